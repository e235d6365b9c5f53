"""Declarative base and the two table shapes: global tables and tenant tables.

Tenant tables have the composite primary key `(workspace_id, id)`. A reference from one tenant
table to another is a composite foreign key `(workspace_id, x_id) -> (workspace_id, id)` made by
`tenant_fk`, so PostgreSQL itself refuses a row that points into another workspace, and the
schema can later be distributed by `workspace_id` (Citus) without rewriting keys.

Enumerations are stored as text with a CHECK constraint (not native PostgreSQL enums) so that a
new value is a one-line migration. Money is integer cents plus an ISO currency code.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSON = dict[str, Any]


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        list[str]: ARRAY(sa.Text),
        datetime: sa.DateTime(timezone=True),
        date: sa.Date,
        uuid.UUID: sa.Uuid,
        str: sa.Text,
    }


def enum_type(enum_cls: type[enum.StrEnum]) -> sa.Enum:
    """Text column restricted to the enum's values by a named CHECK constraint."""
    return sa.Enum(
        enum_cls,
        name=enum_cls.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


def enum_column(
    enum_cls: type[enum.StrEnum], default: enum.StrEnum | None = None, **kw: Any
) -> Any:
    """A mapped column for a StrEnum, with an optional default also set server-side."""
    if default is not None:
        kw.setdefault("default", default)
        kw.setdefault("server_default", default.value)
    return mapped_column(enum_type(enum_cls), **kw)


def json_column(default: str = "{}", **kw: Any) -> Any:
    """A JSONB column, NOT NULL, defaulting to an empty object (or `default`, e.g. '[]')."""
    factory: Any = dict if default == "{}" else list
    return mapped_column(
        JSONB, default=factory, server_default=sa.text(f"'{default}'::jsonb"), **kw
    )


def tags_column(**kw: Any) -> Any:
    """A text[] column, NOT NULL, defaulting to an empty array."""
    return mapped_column(ARRAY(sa.Text), default=list, server_default=sa.text("'{}'::text[]"), **kw)


def money_column(**kw: Any) -> Any:
    """Integer cents. Pair it with a `currency` column (see `currency_column`)."""
    kw.setdefault("default", 0)
    kw.setdefault("server_default", "0")
    return mapped_column(sa.BigInteger, **kw)


def currency_column() -> Any:
    return mapped_column(sa.String(3), default="USD", server_default="USD")


def counter_column() -> Any:
    return mapped_column(sa.Integer, default=0, server_default="0")


def flag_column(default: bool) -> Any:
    return mapped_column(
        sa.Boolean, default=default, server_default=sa.true() if default else sa.false()
    )


def user_fk(ondelete: str = "SET NULL") -> Any:
    """A nullable reference to the global users table."""
    return mapped_column(sa.Uuid, sa.ForeignKey("users.id", ondelete=ondelete), nullable=True)


def tenant_fk(
    target: str, column: str, *, ondelete: str = "SET NULL", name: str | None = None
) -> sa.ForeignKeyConstraint:
    """Composite FK (workspace_id, column) -> target(workspace_id, id).

    `ondelete="SET NULL"` nulls only `column` (PostgreSQL 15+ column list), never workspace_id.
    """
    action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
    return sa.ForeignKeyConstraint(
        ["workspace_id", column],
        [f"{target}.workspace_id", f"{target}.id"],
        ondelete=action,
        name=name,
    )


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=sa.func.now(), default=None, onupdate=sa.func.now()
    )


class GlobalTable(Timestamps, Base):
    """A table shared by all workspaces (users, published catalogues, templates)."""

    __abstract__ = True
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=sa.text("gen_random_uuid()")
    )


class TenantTable(Timestamps, Base):
    """A table owned by one workspace. Row-level security applies to every subclass."""

    __abstract__ = True

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True,
        default=uuid.uuid4,
        server_default=sa.text("gen_random_uuid()"),
        sort_order=-9,
    )


def tenant_tables() -> list[sa.Table]:
    """Every table with a workspace_id column: the ones row-level security guards."""
    return [t for t in Base.metadata.sorted_tables if "workspace_id" in t.c]


def global_tables() -> list[sa.Table]:
    return [t for t in Base.metadata.sorted_tables if "workspace_id" not in t.c]
