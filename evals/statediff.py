"""The workspace's domain tables as comparable content, and a readable diff of two of them.

tau-bench judges a run by the database it leaves behind. Here both sides are clones of one
template, so every seeded row has the same id on both; what differs is what the trial created.
A snapshot therefore drops each row's own `id` and `workspace_id`, writes any other uuid the
template did not hold as `<new>`, writes timestamps that fall inside the trial (when the
workspace was being changed) as `<now>`, and drops vectors and secrets. Rows are then compared
as a multiset per table: what the gold copy has and the agent's does not is a missing row,
the reverse an extra row, and a missing and an extra row of one table that agree on most
columns are shown as one row with differing columns.

Tables that record the conversation rather than the work (messages, events, action history,
pending actions, usage, audit trails) are not domain state and are left out.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.models.base import Base

NOT_DOMAIN = frozenset({
    "ai_conversations", "ai_messages", "ai_message_feedback", "ai_user_preferences",
    "conversation_events", "neptune_action_history", "usage_ledger", "agent_pending_actions",
    "agent_action_audit_log", "audit_logs", "http_idempotency", "ingress_events",
    "rate_limit_buckets", "analytics_events", "user_autonomy_preferences", "insight_sweeps",
    "proactive_insights", "alert_badges", "workspace_intelligence", "knowledge_chunks",
    "access_keys", "oauth_tokens",
})
SECRET_COLUMNS = frozenset({"secret", "secret_hash", "share_token", "password_hash",
                            "encrypted_webhook_secret", "payload_hash", "data_hash",
                            # per call by construction: the gold run's key is not the agent's
                            "idempotency_key"})
LABEL_COLUMNS = ("name", "title", "first_name", "last_name", "email", "invoice_number",
                 "subject", "description", "key")
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
PAIRING_SHARE = 0.5
SLACK = timedelta(seconds=5)

Row = dict[str, Any]


def domain_tables() -> list[sa.Table]:
    return [t for t in Base.metadata.sorted_tables
            if "workspace_id" in t.c and t.name not in NOT_DOMAIN]


@dataclass(frozen=True)
class Window:
    """When the workspace was being changed: timestamps inside it were generated. No slack
    before the start: a template built moments before the trial must not look generated."""

    start: datetime
    end: datetime

    def holds(self, value: datetime) -> bool:
        return self.start <= value <= self.end + SLACK


@dataclass
class Snapshot:
    tables: dict[str, list[Row]] = field(default_factory=dict)

    def ids(self) -> set[str]:
        return {str(row["id"]) for rows in self.tables.values() for row in rows if "id" in row}


async def snapshot(session: AsyncSession) -> Snapshot:
    """Every domain table's rows for the session's workspace (RLS scopes them), in one query."""
    tables = domain_tables()
    parts = [f"SELECT '{t.name}', coalesce(json_agg(r), '[]'::json) FROM {t.name} r "
             "WHERE r.workspace_id = current_setting('neptune.workspace_id')::uuid"
             for t in tables]
    result = await session.execute(sa.text(" UNION ALL ".join(parts)))
    taken = {str(name): rows if isinstance(rows, list) else json.loads(rows)
             for name, rows in result.all()}
    return Snapshot(taken)


def canonical(snap: Snapshot, known_ids: set[str], window: Window,
              ignore: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[Row]]:
    """Each table's rows as content only (see the module docstring)."""
    out: dict[str, list[Row]] = {}
    for table in domain_tables():
        skip = set(ignore.get(table.name, ()) if ignore else ())
        kinds = _kinds(table)
        out[table.name] = [_row(row, kinds, skip, known_ids, window)
                           for row in snap.tables.get(table.name, [])]
    return out


def _kinds(table: sa.Table) -> dict[str, str]:
    kinds = {}
    for column in table.c:
        name = type(column.type).__name__.lower()
        if column.name in ("id", "workspace_id") or column.name in SECRET_COLUMNS \
                or "vector" in name or "tsvector" in name:
            kinds[column.name] = "drop"
        elif isinstance(column.type, sa.Uuid):
            kinds[column.name] = "uuid"
        elif isinstance(column.type, sa.DateTime):
            kinds[column.name] = "time"
        else:
            kinds[column.name] = "value"
    return kinds


def _row(row: Row, kinds: Mapping[str, str], skip: set[str], known: set[str],
         window: Window) -> Row:
    out: Row = {}
    for key, value in row.items():
        kind = kinds.get(key, "value")
        if kind == "drop" or key in skip:
            continue
        out[key] = _value(kind, value, known, window)
    return out


def _value(kind: str, value: Any, known: set[str], window: Window) -> Any:
    if value is None:
        return None
    if kind == "uuid":
        return value if str(value) in known else "<new>"
    if kind == "time":
        moment = datetime.fromisoformat(str(value))
        return "<now>" if window.holds(moment) else moment.isoformat()
    if isinstance(value, dict | list):
        return _inside_json(value, known, window)
    return value


def _inside_json(value: Any, known: set[str], window: Window) -> Any:
    """JSON columns (meta, settings) hold ids, keys and times of their own: the same rules
    apply inside them, and per-call keys are dropped."""
    if isinstance(value, dict):
        return {k: _inside_json(v, known, window) for k, v in value.items()
                if k not in SECRET_COLUMNS}
    if isinstance(value, list):
        return [_inside_json(v, known, window) for v in value]
    if isinstance(value, str) and UUID_TEXT.fullmatch(value):
        return value if value in known else "<new>"
    if isinstance(value, str) and TIME_TEXT.match(value):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is not None and window.holds(moment):
            return "<now>"
    return value


@dataclass(frozen=True)
class RowDiff:
    table: str
    kind: str  # "missing" | "extra" | "changed"
    expected: Row | None = None
    actual: Row | None = None
    columns: tuple[str, ...] = ()

    def describe(self) -> str:
        row = self.expected if self.expected is not None else self.actual
        label = _label(row or {})
        if self.kind == "changed":
            assert self.expected is not None and self.actual is not None
            parts = [f"{c} expected {self.expected.get(c)!r}, got {self.actual.get(c)!r}"
                     for c in self.columns]
            return f"{self.table}: row {label} differs: " + "; ".join(parts)
        return f"{self.table}: {self.kind} row {label} {_brief(row or {})}"


def _label(row: Row) -> str:
    for key in LABEL_COLUMNS:
        if row.get(key):
            return f"({key}={str(row[key])[:60]!r})"
    return ""


def _brief(row: Row) -> str:
    shown = {k: v for k, v in row.items() if v not in (None, "", [], {}, "<now>")}
    text = json.dumps(shown, default=str, sort_keys=True)
    return text if len(text) <= 400 else text[:397] + "..."


def diff(expected: Mapping[str, list[Row]], actual: Mapping[str, list[Row]]) -> list[RowDiff]:
    """What differs between the gold state and the agent's, table by table."""
    found: list[RowDiff] = []
    for table in sorted(set(expected) | set(actual)):
        found += _table_diff(table, expected.get(table, []), actual.get(table, []))
    return found


def _key(row: Row) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def _table_diff(table: str, expected: list[Row], actual: list[Row]) -> list[RowDiff]:
    want, have = Counter(map(_key, expected)), Counter(map(_key, actual))
    missing = [json.loads(k) for k in (want - have).elements()]
    extra = [json.loads(k) for k in (have - want).elements()]
    found: list[RowDiff] = []
    for row in missing:
        partner = _closest(row, extra)
        if partner is None:
            found.append(RowDiff(table, "missing", expected=row))
            continue
        extra.remove(partner)
        columns = tuple(sorted(c for c in set(row) | set(partner)
                               if row.get(c) != partner.get(c)))
        found.append(RowDiff(table, "changed", row, partner, columns))
    found += [RowDiff(table, "extra", actual=row) for row in extra]
    return found


def _closest(row: Row, candidates: list[Row]) -> Row | None:
    """The candidate agreeing with `row` on the most columns, if on at least half of them."""
    best, best_share = None, PAIRING_SHARE
    for candidate in candidates:
        columns = set(row) | set(candidate)
        share = sum(row.get(c) == candidate.get(c) for c in columns) / max(1, len(columns))
        if share >= best_share:
            best, best_share = candidate, share
    return best


def known_ids(snap: Snapshot, extra: Iterable[uuid.UUID | str] = ()) -> set[str]:
    """Ids that exist before a trial: the template's rows, users, and the case's extra rows."""
    ids = snap.ids()
    ids.update(str(i) for i in extra)
    return ids
