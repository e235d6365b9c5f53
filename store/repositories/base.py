"""The scoped repository every domain repository extends.

A repository is built with `(session, scope)`. Its base query `select()` always carries
`workspace_id = scope`, public methods take filters (column = value), never statements, and
`create()` stamps the workspace itself. A missing id and another workspace's id both raise
`NotFound`. Database refusals are translated once, here: a foreign key into nothing (or into
another workspace) is `NotFound` of the referenced entity, a unique violation is `Conflict`, a
check violation is `InvalidArgument`.
"""

from __future__ import annotations

import builtins
import enum
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.base import TenantTable
from store.pagination import Page, check_limit, decode_cursor, encode_cursor
from store.tenancy import WorkspaceScope, bound_workspace

M = TypeVar("M", bound=TenantTable)

PROTECTED_FIELDS = frozenset({"workspace_id", "id", "created_at", "updated_at"})


def _pg_error(error: sa_exc.DBAPIError) -> tuple[str | None, str | None]:
    """(sqlstate, constraint name) of the asyncpg error behind a SQLAlchemy error."""
    cause = getattr(error.orig, "__cause__", None)
    return getattr(cause, "sqlstate", None), getattr(cause, "constraint_name", None)


def entity_name(table: sa.Table) -> str:
    return (
        table.name.removesuffix("s").replace("_", " ") if table.name.endswith("s") else table.name
    )


class Repository(Generic[M]):
    """CRUD plus keyset paging over one tenant table, always inside one workspace."""

    model: ClassVar[type[TenantTable]]
    #: Columns a caller may sort by (NOT NULL columns only, so keyset paging is exact).
    sortable: ClassVar[frozenset[str]] = frozenset({"created_at", "updated_at"})
    #: Values that archive a row, or None when the domain deletes instead.
    archive_values: ClassVar[Mapping[str, Any] | None] = None

    def __init__(self, session: AsyncSession, scope: WorkspaceScope) -> None:
        if bound_workspace(session) != scope.workspace_id:
            raise RuntimeError(
                "session is not bound to this workspace: open it with store.tenancy.scoped_session"
            )
        self.session = session
        self.scope = scope

    # -- queries ---------------------------------------------------------------------------
    @property
    def entity(self) -> str:
        return entity_name(self.model.__table__)  # type: ignore[arg-type]

    def select(self) -> sa.Select[M]:
        """The base query: this table, this workspace. Every read starts here."""
        model: Any = self.model
        stmt: sa.Select[M] = sa.select(model).where(model.workspace_id == self.scope.workspace_id)
        return stmt

    def _column(self, name: str) -> sa.ColumnElement[Any]:
        column = self.model.__table__.c.get(name)
        if column is None:
            raise InvalidArgument(f"{self.entity} has no field {name!r}")
        return column

    def _filters(self, filters: Mapping[str, Any]) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        for name, value in filters.items():
            column = self._column(name)
            if value is None:
                clauses.append(column.is_(None))
            elif isinstance(value, list | tuple | set | frozenset):
                clauses.append(column.in_(list(value)))
            else:
                clauses.append(column == value)
        return clauses

    async def get(self, row_id: uuid.UUID) -> M:
        row = await self.session.scalar(self.select().where(self.model.id == row_id))
        if row is None:
            raise NotFound(self.entity, row_id)
        return row

    async def find(self, row_id: uuid.UUID) -> M | None:
        row: M | None = await self.session.scalar(self.select().where(self.model.id == row_id))
        return row

    async def get_many(self, row_ids: Iterable[uuid.UUID]) -> builtins.list[M]:
        ids = list(row_ids)
        if not ids:
            return []
        return list(await self.session.scalars(self.select().where(self.model.id.in_(ids))))

    async def list(
        self,
        *,
        limit: int = 50,
        cursor: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
        **filters: Any,
    ) -> Page[M]:
        """One page of rows matching `filters` (column=value; a list means IN; None IS NULL)."""
        return await self._page(
            *self._filters(filters), limit=limit, cursor=cursor, sort=sort, descending=descending
        )

    async def count(self, **filters: Any) -> int:
        return await self._count(*self._filters(filters))

    async def _count(self, *where: ColumnElement[bool]) -> int:
        stmt = (
            sa.select(sa.func.count())
            .select_from(self.model)
            .where(self.model.workspace_id == self.scope.workspace_id, *where)
        )
        return int(await self.session.scalar(stmt) or 0)

    async def _all(
        self, *where: ColumnElement[bool], order_by: Sequence[Any] = (), limit: int | None = None
    ) -> builtins.list[M]:
        stmt = self.select().where(*where).order_by(*order_by)
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(await self.session.scalars(stmt))

    async def _page(
        self,
        *where: ColumnElement[bool],
        limit: int = 50,
        cursor: str | None = None,
        sort: str = "created_at",
        descending: bool = True,
    ) -> Page[M]:
        check_limit(limit)
        if sort not in self.sortable:
            raise InvalidArgument(
                f"cannot sort {self.entity} by {sort!r}; choose one of {sorted(self.sortable)}"
            )
        key = self._column(sort)
        stmt = self.select().where(*where)
        if cursor is not None:
            value, last_id = decode_cursor(cursor)
            position = sa.tuple_(key, self.model.id)
            stmt = stmt.where(
                position < (value, last_id) if descending else position > (value, last_id)
            )
        order = (
            (key.desc(), self.model.id.desc()) if descending else (key.asc(), self.model.id.asc())
        )
        rows = list(await self.session.scalars(stmt.order_by(*order).limit(limit + 1)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(getattr(last, sort), last.id)
        return Page(items=rows, next_cursor=next_cursor)

    # -- writes ----------------------------------------------------------------------------
    def _check_fields(self, values: Mapping[str, Any], *, creating: bool = False) -> None:
        protected = PROTECTED_FIELDS - {"created_at"} if creating else PROTECTED_FIELDS
        for name in values:
            if name in protected:
                raise InvalidArgument(f"{name!r} cannot be set on {self.entity}")
            self._column(name)

    async def create(self, **values: Any) -> M:
        self._check_fields(values, creating=True)
        row = self.model(workspace_id=self.scope.workspace_id, **values)
        async with self.guarded(values):
            self.session.add(row)
        return row  # type: ignore[return-value]

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> builtins.list[uuid.UUID]:
        """Insert many rows in one statement; returns their ids in order."""
        if not rows:
            return []
        prepared = []
        for values in rows:
            self._check_fields(values, creating=True)
            prepared.append({"id": uuid.uuid4(), **values, "workspace_id": self.scope.workspace_id})
        async with self.guarded({}):
            await self.session.execute(sa.insert(self.model), prepared)
        return [r["id"] for r in prepared]

    async def update(self, row_id: uuid.UUID, **values: Any) -> M:
        self._check_fields(values)
        row = await self.get(row_id)
        async with self.guarded(values):
            for name, value in values.items():
                setattr(row, name, value)
        await self.session.refresh(row, ["updated_at"])
        return row

    async def delete(self, row_id: uuid.UUID) -> None:
        row = await self.get(row_id)
        async with self.guarded({}):
            await self.session.delete(row)

    async def archive(self, row_id: uuid.UUID) -> M:
        if self.archive_values is None:
            raise InvalidArgument(f"{self.entity} cannot be archived")
        return await self.update(row_id, **self.archive_values)

    @asynccontextmanager
    async def guarded(self, values: Mapping[str, Any]) -> AsyncIterator[None]:
        """Run a write in a savepoint and flush it there.

        A write the database refuses raises a store error (NotFound, Conflict, InvalidArgument)
        and rolls back to the savepoint, so the caller's transaction and its earlier work stay
        usable: a tool can report the error and the turn's other writes still commit.
        """
        try:
            async with self.session.begin_nested():
                yield
                await self.session.flush()
        except sa_exc.DBAPIError as error:
            raise self._translate(error, values) from error
        except sa_exc.StatementError as error:
            if isinstance(error.orig, LookupError | ValueError | TypeError):
                raise InvalidArgument(f"invalid {self.entity}: {error.orig}") from error
            raise

    async def _flush(self, values: Mapping[str, Any]) -> None:
        async with self.guarded(values):
            pass

    def _translate(self, error: sa_exc.DBAPIError, values: Mapping[str, Any]) -> Exception:
        sqlstate, constraint = _pg_error(error)
        if sqlstate == "23503":  # foreign_key_violation
            return self._missing_reference(constraint, values)
        if sqlstate == "23505":
            return Conflict(f"{self.entity} already exists ({constraint})")
        if sqlstate in ("23514", "23502", "22P02", "22001", "22003"):
            return InvalidArgument(f"invalid {self.entity}: {error.orig}")
        return error

    def _missing_reference(self, constraint: str | None, values: Mapping[str, Any]) -> Exception:
        table: sa.Table = self.model.__table__  # type: ignore[assignment]
        for fk in table.foreign_key_constraints:
            # PostgreSQL truncates names past 63 bytes; SQLAlchemy then appends a short hash.
            if constraint and isinstance(fk.name, str) and (
                fk.name == constraint or (len(constraint) >= 60 and fk.name[:50] == constraint[:50])
            ):
                column = next(c.name for c in fk.columns if c.name != "workspace_id")
                return NotFound(entity_name(fk.referred_table), values.get(column, "?"))
        return NotFound("referenced row", "?")


def utcnow() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


def enum_value(value: enum.Enum | str) -> str:
    return value.value if isinstance(value, enum.Enum) else value
