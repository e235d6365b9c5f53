"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the database answers)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.http.dependencies import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Ready for traffic: the database answers",
            responses={503: {"description": "Not ready"}})
async def readyz(svc: ServicesDep) -> JSONResponse:
    try:
        async with svc.deps.database.sessions() as session:
            await session.execute(sa.text("SELECT 1"))
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__},
                            status_code=503)
    return JSONResponse({"status": "ready", "tools": len(svc.deps.registry)})
