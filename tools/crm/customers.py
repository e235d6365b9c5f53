"""Customer and project tools: the accounts the workspace serves and the work it does for them.

Completing a project stamps its actual end date (today, unless one is given); moving it out of
completed clears that date again.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.models.crm import Customer, CustomerStatus, Project, ProjectStatus
from store.repositories.crm import CustomerRepository, ProjectRepository, ilike_any
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.crm.common import (
    CUSTOMER_FIELDS,
    PROJECT_FIELDS,
    Currency,
    CustomerOut,
    Email,
    Money,
    ProjectOut,
    Tags,
    check_dates,
    check_members,
    cleared,
    currency_or_default,
    given,
    require_changes,
)
from tools.registry import Risk, tool
from tools.workspace import count_rows, to_cents, today


class ListCustomersArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(
        default="", max_length=200, description="Text in the name, email or company, e.g. 'acme'."
    )
    status: CustomerStatus | None = Field(default=None, description="Only this status.")
    mine: bool = Field(default=False, description="Only customers assigned to you.")
    limit: int = Field(default=20, ge=1, le=100, description="Customers per page (1-100).")
    offset: int = Field(default=0, ge=0, le=10_000, description="Skip this many (paging).")


class CustomersResult(BaseModel):
    customers: list[CustomerOut] = Field(description="Alphabetical by name.")
    total: int = Field(description="Customers matching the filters.")


def _customer_filters(ctx: ToolContext, args: ListCustomersArgs) -> list[Any]:
    where: list[Any] = []
    if args.query.strip():
        where.append(ilike_any(args.query.strip(), Customer.name, Customer.email,
                               Customer.company))
    if args.status is not None:
        where.append(Customer.status == args.status)
    if args.mine:
        where.append(Customer.assigned_to == ctx.caller.user_id)
    return where


@tool(risk=Risk.LOW, examples=(
    "list our customers", "which customers have churned?", "find the customer Globex",
))
async def list_customers(ctx: ToolContext, args: ListCustomersArgs) -> CustomersResult:
    """List customers (accounts that buy from us) alphabetically, filtered by text, status or
    assignment to you. Lifetime value is in major units of the customer's currency."""
    stmt = CustomerRepository(ctx.session, ctx.scope).select().where(
        *_customer_filters(ctx, args))
    rows = await ctx.session.scalars(
        stmt.order_by(Customer.name, Customer.id).limit(args.limit).offset(args.offset))
    return CustomersResult(customers=[CustomerOut.of(c) for c in rows],
                           total=await count_rows(ctx, stmt))


class CustomerFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Email | None = Field(default=None, description="Main or billing email.")
    phone: str | None = Field(default=None, max_length=40, description="Phone number.")
    company: str | None = Field(default=None, max_length=200, description="Legal company name.")
    assigned_to: uuid.UUID | None = Field(
        default=None, description="user_id of the account manager."
    )
    tags: Tags | None = Field(default=None, description="Tags; on update, replaces all tags.")
    notes: str | None = Field(default=None, max_length=10_000, description="Free-text notes.")


class CreateCustomerArgs(CustomerFields):
    name: str = Field(min_length=1, max_length=200, description="Customer name, e.g. 'Acme Inc'.")
    status: CustomerStatus = Field(default=CustomerStatus.ACTIVE, description="Account status.")
    currency: Currency | None = Field(
        default=None, description="ISO currency they buy in; default the workspace's."
    )


class CustomerResult(BaseModel):
    customer: CustomerOut


@tool(
    risk=Risk.MEDIUM, title="Create customer {name}",
    examples=("add Initech as a customer", "create a customer Acme Inc, billing@acme.com"),
)
async def create_customer(ctx: ToolContext, args: CreateCustomerArgs) -> CustomerResult:
    """Create a customer account directly (to turn a prospect into one, use
    convert_prospect_to_customer). The account manager defaults to you."""
    values = given(args)
    await check_members(ctx, values, "assigned_to")
    values.update(status=args.status, currency=await currency_or_default(ctx, args.currency))
    values.setdefault("assigned_to", ctx.caller.user_id)
    customer = await CustomerRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", "customer", customer.id,
                        after=snapshot(customer, CUSTOMER_FIELDS))
    return CustomerResult(customer=CustomerOut.of(customer))


CustomerClearable = Literal["email", "phone", "company", "assigned_to", "notes"]


class UpdateCustomerArgs(CustomerFields):
    customer_id: uuid.UUID = Field(description="The customer, from list_customers.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    status: CustomerStatus | None = Field(default=None, description="New status.")
    clear: tuple[CustomerClearable, ...] = Field(
        default=(), description="Fields to empty, e.g. ['phone']."
    )


@tool(
    risk=Risk.MEDIUM, title="Update customer {customer_id}",
    examples=("Globex churned", "assign the Acme account to Lee"),
)
async def update_customer(ctx: ToolContext, args: UpdateCustomerArgs) -> CustomerResult:
    """Change a customer's name, contact details, status, account manager, tags or notes. Only
    fields you give change; `clear` empties optional ones."""
    repo = CustomerRepository(ctx.session, ctx.scope)
    customer = await repo.get(args.customer_id)
    values = require_changes({**given(args, "customer_id", "clear"), **cleared(args.clear)})
    await check_members(ctx, values, "assigned_to")
    before = snapshot(customer, CUSTOMER_FIELDS)
    customer = await repo.update(customer.id, **values)
    await record_change(ctx, "update", "customer", customer.id, before=before,
                        after=snapshot(customer, CUSTOMER_FIELDS))
    return CustomerResult(customer=CustomerOut.of(customer))


# -- projects ---------------------------------------------------------------------------------


class ListProjectsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: uuid.UUID | None = Field(default=None, description="Only this customer's.")
    status: ProjectStatus | None = Field(default=None, description="Only this status.")
    active_only: bool = Field(default=False, description="Only planning or in-progress ones.")
    limit: int = Field(default=20, ge=1, le=100, description="Projects per page (1-100).")
    offset: int = Field(default=0, ge=0, le=10_000, description="Skip this many (paging).")


class ProjectsResult(BaseModel):
    projects: list[ProjectOut] = Field(description="Newest first.")
    total: int


def _project_filters(args: ListProjectsArgs) -> list[Any]:
    where: list[Any] = []
    if args.customer_id is not None:
        where.append(Project.customer_id == args.customer_id)
    if args.status is not None:
        where.append(Project.status == args.status)
    if args.active_only:
        where.append(Project.status.in_([ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS]))
    return where


@tool(risk=Risk.LOW, examples=("what projects are running?", "list Acme's projects"))
async def list_projects(ctx: ToolContext, args: ListProjectsArgs) -> ProjectsResult:
    """List projects (work delivered for customers), newest first, by customer or status.
    Budgets are major units of each project's currency."""
    if args.customer_id is not None:
        await CustomerRepository(ctx.session, ctx.scope).get(args.customer_id)
    stmt = ProjectRepository(ctx.session, ctx.scope).select().where(*_project_filters(args))
    rows = await ctx.session.scalars(
        stmt.order_by(Project.created_at.desc(), Project.id).limit(args.limit)
        .offset(args.offset))
    return ProjectsResult(projects=[ProjectOut.of(p) for p in rows],
                          total=await count_rows(ctx, stmt))


class ProjectFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: uuid.UUID | None = Field(default=None, description="The customer it is for.")
    description: str | None = Field(default=None, max_length=10_000, description="Scope/goals.")
    budget: Money | None = Field(default=None, description="Budget in major units, e.g. 25000.")
    currency: Currency | None = Field(
        default=None, description="ISO currency of the budget; default the workspace's."
    )
    start_date: date | None = Field(default=None, description="Start date, YYYY-MM-DD.")
    end_date: date | None = Field(default=None, description="Planned end date, YYYY-MM-DD.")
    manager_id: uuid.UUID | None = Field(default=None, description="user_id of the manager.")


class CreateProjectArgs(ProjectFields):
    name: str = Field(min_length=1, max_length=200, description="Project name, e.g. 'Rollout'.")
    status: ProjectStatus = Field(default=ProjectStatus.PLANNING, description="Starting status.")

    @model_validator(mode="after")
    def _ordered(self) -> CreateProjectArgs:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ProjectResult(BaseModel):
    project: ProjectOut


async def _project_values(
    ctx: ToolContext, args: CreateProjectArgs | UpdateProjectArgs, *exclude: str
) -> dict[str, Any]:
    values = given(args, "budget", *exclude)
    if args.budget is not None:
        values["budget_cents"] = to_cents(args.budget)
    await check_members(ctx, values, "manager_id")
    if values.get("customer_id") is not None:
        await CustomerRepository(ctx.session, ctx.scope).get(values["customer_id"])
    return values


@tool(
    risk=Risk.MEDIUM, title="Create project {name}",
    examples=("start a rollout project for Acme, budget 30k, ending June 30",
              "create a project 'Data migration' for Globex"),
)
async def create_project(ctx: ToolContext, args: CreateProjectArgs) -> ProjectResult:
    """Create a project, usually for a customer (customer_id from list_customers). Budget in
    major units of the currency (default the workspace's); the manager defaults to you."""
    values = await _project_values(ctx, args)
    values.update(status=args.status, currency=await currency_or_default(ctx, args.currency))
    values.setdefault("manager_id", ctx.caller.user_id)
    if args.status == ProjectStatus.COMPLETED:
        values["actual_end_date"] = today()
    project = await ProjectRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", "project", project.id,
                        after=snapshot(project, PROJECT_FIELDS))
    return ProjectResult(project=ProjectOut.of(project))


ProjectClearable = Literal["customer_id", "description", "start_date", "end_date", "manager_id"]


class UpdateProjectArgs(ProjectFields):
    project_id: uuid.UUID = Field(description="The project, from list_projects.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    status: ProjectStatus | None = Field(default=None, description="New status.")
    actual_end_date: date | None = Field(
        default=None, description="When it really ended; default today on completion."
    )
    clear: tuple[ProjectClearable, ...] = Field(
        default=(), description="Fields to empty, e.g. ['end_date']."
    )


def _completion(project: Project, values: dict[str, Any]) -> dict[str, Any]:
    status = values.get("status")
    if status == ProjectStatus.COMPLETED and project.status != ProjectStatus.COMPLETED:
        values.setdefault("actual_end_date", today())
    elif status is not None and status != ProjectStatus.COMPLETED:
        values["actual_end_date"] = None
    return values


@tool(
    risk=Risk.MEDIUM, title="Update project {project_id}",
    examples=("the Acme rollout is done", "put the migration project on hold",
              "raise the Globex project budget to 40k"),
)
async def update_project(ctx: ToolContext, args: UpdateProjectArgs) -> ProjectResult:
    """Change a project's status, budget, dates, manager, customer, name or description. Only
    fields you give change; `clear` empties optional ones. Completing it records today as the
    actual end date unless you give one."""
    repo = ProjectRepository(ctx.session, ctx.scope)
    project = await repo.get(args.project_id)
    values = await _project_values(ctx, args, "project_id", "clear")
    values = _completion(project, require_changes({**values, **cleared(args.clear)}))
    check_dates(values.get("start_date", project.start_date),
                values.get("end_date", project.end_date))
    before = snapshot(project, PROJECT_FIELDS)
    project = await repo.update(project.id, **values)
    await record_change(ctx, "update", "project", project.id, before=before,
                        after=snapshot(project, PROJECT_FIELDS))
    return ProjectResult(project=ProjectOut.of(project))
