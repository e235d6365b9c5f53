"""The engine against the real database: each node type, routing, loops, failures, limits,
delays, claims and cancellation, run directly with `Engine.advance`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from store.models.admin import TodoHqTask
from store.models.grids import GridExecution
from store.models.neptune import OutboundMessage
from store.repositories.base import utcnow
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.grids.support import (
    FakeModel,
    Sessions,
    advance,
    chain,
    create,
    edge,
    load,
    node,
    run_grid,
    start,
)
from tests.tools.helpers import rows
from tools.grids import runs
from tools.grids.engine import Engine
from tools.grids.model import MODEL_SERVICE, ModelPrompt, ModelReply

START = node("start", "trigger")


async def test_condition_routes_and_skips_the_untaken_branch(call_tool: Any, sessions: Sessions,
                                                              ws: WorkspaceFixture) -> None:
    nodes = [START, node("double", "transform", mapping={"value": "input.n * 2"}),
             node("big", "condition", field="input.value", operator=">", value=10),
             node("yes", "transform", expression="'big'", output="size"),
             node("no", "transform", expression="'small'", output="size"),
             node("after_no", "transform", expression="input.size")]
    edges = [*chain("start", "double", "big"), edge("big", "yes", "true"),
             edge("big", "no", "false"), edge("no", "after_no")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"n": 7})
    assert run.status == "completed", run.execution.error
    assert run.statuses() == {"start": "completed", "double": "completed", "big": "completed",
                              "yes": "completed", "no": "skipped", "after_no": "skipped"}
    assert run.output("double") == {"value": 14}
    assert run.by_node()["big"][0].output == {
        "result": {"value": 14},
        "logs": ["input.value > 10 (value was 14) -> true", "took edges e3"]}
    assert run.execution.result == {"outputs": {"yes": {"size": "big"}}}
    assert (run.execution.nodes_executed, run.execution.nodes_succeeded,
            run.execution.nodes_failed) == (4, 4, 0)


async def test_branch_takes_the_first_match_or_else(call_tool: Any, sessions: Sessions,
                                                    ws: WorkspaceFixture) -> None:
    nodes = [START, node("route", "branch"),
             *[node(n, "transform", expression=f"'{n}'") for n in ("hot", "warm", "cold")]]
    edges = [edge("start", "route"), edge("route", "hot", "input.score >= 80", id="a"),
             edge("route", "warm", "input.score >= 50", id="b"),
             edge("route", "cold", "else", id="c")]
    grid_id = await create(call_tool, ws, nodes, edges)
    seen = {}
    for score in (90, 60, 10):
        run = await advance(sessions, ws, await start(call_tool, ws, grid_id, {"score": score}))
        seen[score] = sorted(n for n, s in run.statuses().items() if s == "completed")
    assert seen == {90: ["hot", "route", "start"], 60: ["route", "start", "warm"],
                    10: ["cold", "route", "start"]}


async def test_filter_aggregate_and_merge(call_tool: Any, sessions: Sessions,
                                         ws: WorkspaceFixture) -> None:
    deals = [{"owner": "ann", "value": 100}, {"owner": "bob", "value": 2500},
             {"owner": "ann", "value": 4000}, {"owner": "bob", "value": 50}]
    nodes = [START, node("big", "filter", items="input.deals", where="value >= 100"),
             node("per_owner", "aggregate", group_by="item.owner",
                  metrics={"n": {"op": "count"}, "total": {"op": "sum", "value": "value"}}),
             node("overall", "aggregate", metrics={"avg": {"op": "avg", "value": "value"},
                                                   "top": {"op": "max", "value": "value"},
                                                   "owners": {"op": "list", "value": "owner"}}),
             node("both", "merge", mode="by_node"),
             node("flat", "merge")]
    edges = [*chain("start", "big", "per_owner"), edge("big", "overall"),
             edge("per_owner", "both"), edge("overall", "both"),
             edge("overall", "flat"), edge("big", "flat")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"deals": deals})
    assert run.status == "completed", run.execution.error
    assert run.output("big") == {"items": deals[:3], "count": 3, "total": 4}
    assert run.output("per_owner") == {"count": 2, "groups": [
        {"key": "ann", "n": 2, "total": 4100}, {"key": "bob", "n": 1, "total": 2500}]}
    assert run.output("both") == {"per_owner": run.output("per_owner"),
                                  "overall": {"avg": 2200.0, "top": 4000,
                                              "owners": ["ann", "bob", "ann"]}}
    assert run.output("flat") == {"items": deals[:3], "count": 3, "total": 4, "avg": 2200.0,
                                  "top": 4000, "owners": ["ann", "bob", "ann"]}


async def test_loop_runs_its_body_per_item_within_its_bound(call_tool: Any, sessions: Sessions,
                                                            ws: WorkspaceFixture) -> None:
    nodes = [START, node("each", "loop", items="input.rows", max_iterations=3),
             node("square", "transform", mapping={"n": "loop.item * loop.item",
                                                  "i": "loop.index"}),
             node("odd", "condition", expression="input.n % 2 == 1"),
             node("keep", "transform", expression="input.n"),
             node("total", "transform", mapping={"sum": "sum(input.results)",
                                                 "count": "input.count",
                                                 "cut": "input.truncated"})]
    edges = [edge("start", "each"), edge("each", "square"), edge("square", "odd"),
             edge("odd", "keep", "true"), edge("keep", "each"), edge("each", "total")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"rows": [1, 2, 3, 4, 5]})
    assert run.status == "completed", run.execution.error
    assert run.output("each") == {"results": [1, None, 9], "count": 3, "truncated": True}
    assert run.output("total") == {"sum": 10, "count": 3, "cut": True}
    assert [s.status for s in run.by_node()["keep"]] == ["completed", "skipped", "completed"]
    assert len(run.by_node()["square"]) == 3


async def test_while_loop_stops_at_its_bound(call_tool: Any, sessions: Sessions,
                                             ws: WorkspaceFixture) -> None:
    nodes = [START, node("again", "loop", **{"while": "true"}, max_iterations=4),
             node("count", "transform", expression="loop.index")]
    edges = [edge("start", "again"), edge("again", "count"), edge("count", "again")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges)
    assert run.status == "completed"
    assert run.output("again") == {"results": [0, 1, 2, 3], "count": 4, "truncated": True}


async def test_a_failing_node_fails_the_run_with_its_error(call_tool: Any, sessions: Sessions,
                                                           ws: WorkspaceFixture) -> None:
    nodes = [START, node("bad", "transform", expression="input.text * 2"),
             node("never", "transform", expression="1")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "bad", "never"),
                         {"text": "x"})
    assert run.status == "failed"
    assert run.execution.error == {"node": "bad",
                                   "message": "cannot apply * to text and a number"}
    assert run.statuses() == {"start": "completed", "bad": "failed"}
    assert run.by_node()["bad"][0].error == {"message": "cannot apply * to text and a number"}
    assert run.execution.nodes_failed == 1 and run.execution.completed_at is not None


async def test_an_error_edge_handles_a_failure(call_tool: Any, sessions: Sessions,
                                               ws: WorkspaceFixture) -> None:
    nodes = [START, node("bad", "filter", where="true"),
             node("ok", "transform", expression="1"),
             node("handle", "transform", mapping={"why": "input.error", "where": "input.node"})]
    edges = [*chain("start", "bad", "ok"), edge("bad", "handle", type="error")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"not": "a list"})
    assert run.status == "completed"
    assert run.statuses() == {"start": "completed", "bad": "failed", "ok": "skipped",
                              "handle": "completed"}
    assert run.output("handle") == {"why": "needs a list to work on, got an object; set `items`",
                                    "where": "bad"}


async def test_the_step_limit_stops_a_run(call_tool: Any, sessions: Sessions,
                                          ws: WorkspaceFixture) -> None:
    nodes = [START, node("each", "loop", items="input.rows", max_iterations=100),
             node("work", "transform", expression="1")]
    edges = [edge("start", "each"), edge("each", "work"), edge("work", "each")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"rows": list(range(50))},
                         settings={"max_steps": 10})
    assert run.status == "failed"
    assert run.execution.error == {"message": "the run reached its limit of 10 steps"}
    assert len(run.by_node()["work"]) == 8


async def test_delay_waits_then_resumes(call_tool: Any, sessions: Sessions,
                                        ws: WorkspaceFixture) -> None:
    nodes = [START, node("wait", "delay", minutes=30), node("after", "transform",
                                                            expression="input.x + 1")]
    grid_id = await create(call_tool, ws, nodes, chain("start", "wait", "after"))
    execution_id = await start(call_tool, ws, grid_id, {"x": 1})
    before = utcnow()
    run = await advance(sessions, ws, execution_id)
    assert run.status == "waiting" and run.statuses() == {"start": "completed",
                                                          "wait": "running"}
    resume_at = run.execution.resume_at
    assert resume_at is not None
    assert timedelta(minutes=29) < resume_at - before < timedelta(minutes=31)
    assert await Engine(sessions, ws.scope).advance(execution_id) is None  # not due yet
    later = resume_at + timedelta(seconds=1)
    run = await advance(sessions, ws, execution_id, now=later)
    assert run.status == "completed"
    assert run.output("after") == 2 and run.statuses()["wait"] == "completed"


async def test_ai_node_calls_the_model_service(call_tool: Any, sessions: Sessions,
                                               ws: WorkspaceFixture) -> None:
    model = FakeModel(answers=["A short summary.", '```json\n{"score": 87}\n```'])
    nodes = [START, node("sum", "ai", prompt="Summarise {{ input.text }}", system="Be brief."),
             node("score", "ai", prompt="Score {{ sum.text }}", parse_json=True, model="small")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "sum", "score"),
                         {"text": "the deal"}, services={MODEL_SERVICE: model})
    assert run.status == "completed", run.execution.error
    assert run.output("sum") == {"text": "A short summary.", "model": "fake-model"}
    assert run.output("score") == {"score": 87}
    assert [(p.prompt, p.system, p.model) for p in model.prompts] == [
        ("Summarise the deal", "Be brief.", None), ("Score A short summary.", None, "small")]
    assert model.prompts[0].caller.user_id == ws.user_id


async def test_ai_node_without_a_model_fails_clearly(call_tool: Any, sessions: Sessions,
                                                     ws: WorkspaceFixture) -> None:
    run = await run_grid(call_tool, sessions, ws, [START, node("ai", "ai", prompt="hi")],
                         chain("start", "ai"))
    assert run.status == "failed"
    assert "the `model` service is missing" in run.execution.error["message"]


async def test_action_runs_a_low_risk_tool_as_the_caller(call_tool: Any, sessions: Sessions,
                                                        ws: WorkspaceFixture) -> None:
    nodes = [START, node("task", "action", tool="create_task",
                         arguments={"title": "Call {{ input.who }}", "tags": ["grid"]})]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "task"), {"who": "Ada"})
    assert run.status == "completed", run.execution.error
    [task] = await rows(sessions, ws, TodoHqTask)
    assert task.title == "Call Ada" and task.tags == ["grid"]
    assert run.output("task")["task"]["id"] == str(task.id)


async def test_action_failure_is_the_tools_error(call_tool: Any, sessions: Sessions,
                                                 ws: WorkspaceFixture) -> None:
    nodes = [START, node("task", "action", tool="create_task", arguments={"title": ""})]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "task"))
    assert run.status == "failed"
    assert run.execution.error["message"].startswith("create_task: invalid arguments: title")
    assert await rows(sessions, ws, TodoHqTask) == []


async def test_email_and_notification_queue_outbox_rows(call_tool: Any, sessions: Sessions,
                                                        ws: WorkspaceFixture) -> None:
    nodes = [START, node("mail", "email", to="{{ input.to }}", subject="Won {{ input.deal }}",
                         body="Deal {{ input.deal }} is won."),
             node("ping", "notification", channel="email", to="boss@example.com",
                  message="{{ trigger.deal }} closed")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "mail", "ping"),
                         {"to": "ann@example.com", "deal": "Acme"})
    assert run.status == "completed", run.execution.error
    sent = {m.recipient: m for m in await rows(sessions, ws, OutboundMessage)}
    assert set(sent) == {"ann@example.com", "boss@example.com"}
    mail = sent["ann@example.com"]
    assert (mail.channel, mail.subject, mail.body, mail.related_id) == (
        "email", "Won Acme", "Deal Acme is won.", run.execution.id)
    assert mail.idempotency_key == f"grid:{run.execution.id}:mail:0"
    assert sent["boss@example.com"].body == "Acme closed"


async def test_sms_without_a_number_fails_the_node(call_tool: Any, sessions: Sessions,
                                                   ws: WorkspaceFixture) -> None:
    nodes = [START, node("sms", "notification", to="+14155550123", message="hi")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "sms"))
    assert run.status == "failed"
    assert "no active SMS-capable phone number" in run.execution.error["message"]
    assert await rows(sessions, ws, OutboundMessage) == []


async def test_two_workers_claim_a_run_once(call_tool: Any, sessions: Sessions,
                                            ws: WorkspaceFixture) -> None:
    nodes = [START, node("mail", "email", to="a@example.com", body="once")]
    grid_id = await create(call_tool, ws, nodes, chain("start", "mail"))
    execution_id = await start(call_tool, ws, grid_id)
    engines = [Engine(sessions, ws.scope) for _ in range(3)]
    results = await asyncio.gather(*(e.advance(execution_id) for e in engines))
    assert sum(r is not None for r in results) == 1
    run = await load(sessions, ws, execution_id)
    assert run.status == "completed" and len(run.steps) == 2
    assert len(await rows(sessions, ws, OutboundMessage)) == 1
    assert await Engine(sessions, ws.scope).advance(execution_id) is None


async def test_cancel_a_waiting_run(call_tool: Any, sessions: Sessions,
                                    ws: WorkspaceFixture) -> None:
    nodes = [START, node("wait", "delay", seconds=5), node("after", "transform", expression="1")]
    grid_id = await create(call_tool, ws, nodes, chain("start", "wait", "after"))
    execution_id = await start(call_tool, ws, grid_id)
    await advance(sessions, ws, execution_id)
    result = await call_tool(ws, "cancel_grid_execution", {"execution_id": str(execution_id)})
    assert result.execution.status == "cancelled"
    run = await advance(sessions, ws, execution_id, now=utcnow() + timedelta(hours=1))
    assert run.status == "cancelled" and "after" not in run.statuses()
    assert run.by_node()["wait"][0].error == {
        "message": "the run was cancelled before this step ended"}


class CancellingModel:
    """Cancels the run while its ai node's call is in flight, as a person would."""

    def __init__(self, sessions: Sessions, ws: WorkspaceFixture) -> None:
        self.sessions, self.ws = sessions, ws
        self.execution_id: Any = None

    async def complete(self, prompt: ModelPrompt) -> ModelReply:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            await runs.cancel(session, self.ws.scope, self.execution_id, self.ws.user_id)
        return ModelReply(text="too late", model="fake")


async def test_cancel_takes_effect_at_the_next_step_boundary(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture,
) -> None:
    nodes = [START, node("think", "ai", prompt="hi"),
             node("mail", "email", to="a@example.com", body="{{ input.text }}")]
    grid_id = await create(call_tool, ws, nodes, chain("start", "think", "mail"))
    execution_id = await start(call_tool, ws, grid_id)
    model = CancellingModel(sessions, ws)
    model.execution_id = execution_id
    run = await advance(sessions, ws, execution_id, services={MODEL_SERVICE: model})
    assert run.status == "cancelled"
    assert "mail" not in run.statuses()
    assert await rows(sessions, ws, OutboundMessage) == []


async def test_state_lives_in_the_execution_context(call_tool: Any, sessions: Sessions,
                                                    ws: WorkspaceFixture) -> None:
    """A waiting run's row holds the graph snapshot, so editing the grid changes nothing."""
    nodes = [START, node("wait", "delay", seconds=1), node("after", "transform",
                                                           expression="'original'")]
    grid_id = await create(call_tool, ws, nodes, chain("start", "wait", "after"))
    execution_id = await start(call_tool, ws, grid_id)
    await advance(sessions, ws, execution_id)
    changed = [START, node("after", "transform", expression="'edited'")]
    await call_tool(ws, "update_grid", {"grid_id": str(grid_id),
                                        "graph": {"nodes": changed,
                                                  "edges": chain("start", "after")}})
    [row] = await rows(sessions, ws, GridExecution, GridExecution.id == execution_id)
    assert [n["id"] for n in row.context["graph"]["nodes"]] == ["start", "wait", "after"]
    run = await advance(sessions, ws, execution_id, now=utcnow() + timedelta(minutes=1))
    assert run.output("after") == "original"
    async with scoped_session(sessions, ws.scope) as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(GridExecution)
                                     .where(GridExecution.workspace_id == ws.workspace_id))
    assert count == 1


async def test_nested_loops(call_tool: Any, sessions: Sessions, ws: WorkspaceFixture) -> None:
    nodes = [START, node("rows", "loop", items="input.rows"),
             node("cells", "loop", items="loop.item"),
             node("double", "transform", expression="loop.item * 10 + rows.index"),
             node("row_total", "transform", expression="sum(input.results)"),
             node("grand", "transform", expression="sum(input.results)")]
    edges = [edge("start", "rows"), edge("rows", "cells"), edge("cells", "double"),
             edge("double", "cells"), edge("cells", "row_total"), edge("row_total", "rows"),
             edge("rows", "grand")]
    run = await run_grid(call_tool, sessions, ws, nodes, edges, {"rows": [[1, 2], [3], []]})
    assert run.status == "completed", run.execution.error
    assert run.output("rows")["results"] == [30, 31, 0]
    assert run.output("grand") == 61
    assert [s.status for s in run.by_node()["double"]] == [
        "completed", "completed", "completed", "skipped"]  # the empty row runs no cell
