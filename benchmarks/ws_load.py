"""WebSocket load on a real `neptune serve`: N browser-like sessions chatting at once.

    .venv/bin/python benchmarks/ws_load.py --sessions 100
    .venv/bin/python benchmarks/ws_load.py --sessions 1000 [--messages 3 --think 1 --ramp 200]

Three processes on one machine: this one (the clients), a child running the scripted loopback
model server (so the clients' event loop cannot delay the model, nor the model the clients),
and `neptune serve --port 0` as a subprocess over a fresh embedded PostgreSQL in a temporary
`NEPTUNE_DATA_DIR` (demo data loaded with `neptune demo`, a token from `neptune token`). Serve
runs its in-process worker, as a single-machine install does (`--no-worker` turns it off). Each
session takes a ticket (`POST /v1/ws/tickets`), opens `/v1/ws`, waits for `hello`, then sends
`--messages` user messages (the first creates the conversation) with a jittered think time
between them, waiting for the assistant's `message.completed` each time. Sessions open at
`--ramp` per second and stay open until every session is done, so "held" counts the sockets
still open at the end. It prints numbers and asserts nothing.

Definitions (every time is read from the machine's one monotonic clock, shared by all three
processes):

- client TTFT = when the client received the turn's first `text.delta` - when it sent the
  `user_message` frame;
- model arrival = when the model server received the completion request (its rule's predicate
  runs on arrival; each message carries a unique tag that the request's last user message
  repeats, which pairs the two). The model streams a role-only chunk at once and then a content
  chunk every `--chunk-delay` seconds, so its first token (the first content chunk: the one
  that becomes a `text.delta`) leaves at model arrival + chunk delay;
- Neptune's added latency before the first token = (model arrival - client send)
  + (client's first text.delta - model's first token sent), printed with its two parts:
  "before the model" (ticket-less frame parsing, rate limit, conversation, lock, user message
  stored, context built, litellm request) and "after the model" (the chunk through litellm, the
  event log, the socket's queue and the network back to the client). The model server's own
  event-loop lag is printed too: it bounds how far "first token sent" can be late.

Memory is the serve process's resident set (VmRSS) at idle, when every session is connected,
after the last message (all sessions held), at its peak, and after every socket closed; its
child processes (PostgreSQL is not one: pg_ctl detaches it) and PostgreSQL's processes (PSS,
which counts shared buffers once) are listed apart. Shutdown is SIGINT to serve (its exit stops
the embedded PostgreSQL); a PostgreSQL still running afterwards is stopped by its pid, and the
temporary directory is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.model_server import ModelServer, RecordedRequest, Text  # noqa: E402

NEPTUNE = ROOT / ".venv" / "bin" / "neptune"
READY = re.compile(r"Neptune is ready at (http://\S+)")
TAG = re.compile(r"wsload-[0-9a-f]{16}")
ANSWER_WORDS = 20


@dataclass(frozen=True)
class Options:
    sessions: int
    messages: int
    think: float
    ramp: float
    timeout: float
    chunks: int
    chunk_delay: float
    pool_size: int
    deflate: bool
    worker: bool


# -- the model server, in a child process ------------------------------------------------------
def model_process(conn: Connection, chunks: int, chunk_delay: float) -> None:
    asyncio.run(_model_main(conn, chunks, chunk_delay))


async def _model_main(conn: Connection, chunks: int, chunk_delay: float) -> None:
    arrivals: dict[str, float] = {}
    lags: list[float] = []
    answer = Text(" ".join(f"word{i}" for i in range(ANSWER_WORDS)), chunks=chunks,
                  chunk_delay=chunk_delay)
    async with ModelServer() as server:

        def arrived(request: RecordedRequest) -> bool:
            tag = _tag_of(request)
            if tag is not None:
                arrivals.setdefault(tag, time.monotonic())
            server.requests.clear()  # keep no request bodies: thousands of them add up
            return True

        server.rule(arrived, answer)
        conn.send(server.base_url)
        monitor = asyncio.create_task(_loop_lag(lags))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        monitor.cancel()
        conn.send({"arrivals": arrivals, "lags": lags, "unscripted": len(server.unscripted)})


def _tag_of(request: RecordedRequest) -> str | None:
    for message in reversed(request.messages):
        if message.get("role") == "user":
            found = TAG.search(json.dumps(message.get("content")))
            return found.group(0) if found else None
    return None


async def _loop_lag(lags: list[float], every: float = 0.01) -> None:
    """How late the event loop wakes a 10 ms sleep: the loop's own delay, in seconds."""
    while True:
        started = time.monotonic()
        await asyncio.sleep(every)
        lags.append(time.monotonic() - started - every)


# -- processes and memory ----------------------------------------------------------------------
def _proc_field(pid: int, name: str, file: str = "status") -> int:
    """A `kB` field of /proc/<pid>/status (or smaps_rollup), 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (field 3 onwards), or []."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rpartition(")")[2].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    fields = _stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


@dataclass
class Memory:
    """RSS of serve, of its children, and PSS of PostgreSQL, in MiB, at one moment."""

    serve: float
    children: float
    postgres: float

    def __str__(self) -> str:
        return (f"serve {self.serve:7.1f} MiB   its children {self.children:6.1f} MiB   "
                f"postgres (PSS) {self.postgres:6.1f} MiB")


@dataclass
class Processes:
    serve_pid: int
    data_dir: Path

    def memory(self) -> Memory:
        kids = sum(_proc_field(pid, "VmRSS") for pid in children(self.serve_pid))
        return Memory(_proc_field(self.serve_pid, "VmRSS") / 1024, kids / 1024,
                      sum(_proc_field(pid, "Pss", "smaps_rollup") for pid in self.postgres())
                      / 1024)

    def postgres(self) -> list[int]:
        pid = postmaster_pid(self.data_dir)
        return [] if pid is None else [pid, *children(pid)]

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far of serve and of PostgreSQL's live processes."""
        return cpu_seconds(self.serve_pid), sum(cpu_seconds(p) for p in self.postgres())


# -- starting and stopping neptune -------------------------------------------------------------
def neptune_env(options: Options, data_dir: Path, model_url: str) -> dict[str, str]:
    tiers = {tier: 1_000_000 for tier in ("free", "starter", "professional", "enterprise")}
    alias = {"bench": {"model": "openai/bench-model", "api_base": model_url,
                       "api_key_env": "NEPTUNE_BENCH_KEY"}}
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "NEPTUNE_DATA_DIR": str(data_dir), "NEPTUNE_DEV_MODE": "1",
            "NEPTUNE_MODEL": "bench", "NEPTUNE_MODEL_ALIASES": json.dumps(alias),
            "NEPTUNE_BENCH_KEY": "sk-bench", "NEPTUNE_FALLBACK_MODELS": "",
            "NEPTUNE_USER_RATE_LIMIT": "1000000", "NEPTUNE_RATE_LIMITS": json.dumps(tiers),
            "NEPTUNE_DB_POOL_SIZE": str(options.pool_size)}


async def run_neptune(env: dict[str, str], *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(NEPTUNE), *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"neptune {' '.join(args)} exited {process.returncode}: "
                           f"{err.decode()[-2000:]}")
    return out.decode()


@dataclass
class Serve:
    process: asyncio.subprocess.Process
    base_url: str
    ready_seconds: float
    log_path: Path
    output: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None


async def start_serve(env: dict[str, str], log_path: Path, worker: bool) -> Serve:
    serve_args = ["serve", "--port", "0", *([] if worker else ["--no-worker"])]
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(NEPTUNE), *serve_args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True)
    output: list[str] = []
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode()
        if not line:
            raise RuntimeError(f"neptune serve exited before it was ready: "
                               f"{read_log(log_path)[-3000:]}")
        output.append(line)
        if found := READY.search(line):
            serve = Serve(process, found.group(1), time.monotonic() - started, log_path, output)
            serve.drain = asyncio.create_task(_drain(process.stdout, output))
            return serve


def read_log(path: Path) -> str:
    return path.read_text(errors="replace")


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    """Keep reading serve's stdout so a full pipe can never block it."""
    while line := await stream.readline():
        into.append(line.decode())


async def stop_serve(serve: Serve) -> int | None:
    process = serve.process
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            print("serve did not exit 30 s after SIGINT: killing its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    return process.returncode


async def stop_postgres(data_dir: Path) -> str:
    """Stop a PostgreSQL that outlived serve (fast shutdown, then SIGKILL); say what was done."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return "no PostgreSQL left running"
    os.kill(pid, signal.SIGINT)
    for _ in range(100):
        await asyncio.sleep(0.1)
        if postmaster_pid(data_dir) is None:
            return f"PostgreSQL {pid} outlived serve: stopped it"
    for stray in [pid, *children(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stray, signal.SIGKILL)
    return f"PostgreSQL {pid} outlived serve and ignored SIGINT: killed it"


# -- the sessions ------------------------------------------------------------------------------
@dataclass
class Sample:
    """One user message: when it went out, its first token and its end at the client."""

    tag: str
    sent: float
    first_delta: float | None = None
    completed: float | None = None
    error: str | None = None


@dataclass
class Load:
    options: Options
    base_url: str
    token: str
    http: httpx.AsyncClient
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    connected: int = 0
    held: int = 0
    settled: int = 0
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    done: int = 0

    def fail(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:300])

    def session_settled(self) -> None:
        """A session connected or gave up connecting."""
        self.settled += 1
        if self.settled == self.options.sessions:
            self.all_connected.set()

    def session_done(self) -> None:
        self.done += 1
        if self.done == self.options.sessions:
            self.all_done.set()


class Failed(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


async def session(load: Load, index: int) -> None:
    """One browser tab: connect, chat `messages` times, stay open until everyone is done."""
    ws = await connected_socket(load, index)
    if ws is None:
        load.session_done()
        return
    async with ws:
        try:
            await chat(load, ws)
        except (OSError, ConnectionClosed) as exc:
            load.fail(f"closed_{type(exc).__name__}", f"session {index}: {exc!r}")
        finally:
            load.session_done()
        await load.all_done.wait()
        if await still_open(ws):
            load.held += 1


async def connected_socket(load: Load, index: int) -> ClientConnection | None:
    try:
        ws = await open_socket(load)
    except Failed as failure:
        load.fail(failure.kind, str(failure))
        return None
    except (OSError, ConnectionClosed, TimeoutError, httpx.HTTPError) as exc:
        load.fail(f"connect_{type(exc).__name__}", f"session {index}: {exc!r}")
        return None
    else:
        load.connected += 1
        return ws
    finally:
        load.session_settled()


async def open_socket(load: Load) -> ClientConnection:
    response = await load.http.post("/v1/ws/tickets",
                                     headers={"Authorization": f"Bearer {load.token}"})
    if response.status_code != 200:
        raise Failed(f"ticket_{response.status_code}", response.text)
    url = load.base_url.replace("http", "ws", 1) + response.json()["url"]
    ws = await connect(url, proxy=None, ping_interval=None, open_timeout=30,
                       compression="deflate" if load.options.deflate else None)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
    if hello.get("type") != "hello":
        await ws.close()
        raise Failed("no_hello", json.dumps(hello))
    return ws


async def chat(load: Load, ws: ClientConnection) -> None:
    conversation_id: str | None = None
    options = load.options
    for number in range(options.messages):
        if number:
            await asyncio.sleep(options.think * random.uniform(0.5, 1.5))
        sample = Sample(f"wsload-{uuid.uuid4().hex[:16]}", 0.0)
        load.samples.append(sample)
        try:
            async with asyncio.timeout(options.timeout):
                conversation_id = await one_message(ws, sample, conversation_id)
        except TimeoutError:
            sample.error = "timeout"
            load.fail("message_timeout", f"no message.completed within {options.timeout:g} s")
        except Failed as failure:
            sample.error = failure.kind
            load.fail(failure.kind, str(failure))


async def one_message(ws: ClientConnection, sample: Sample,
                      conversation_id: str | None) -> str | None:
    """Send one message and read until its assistant message completes; the conversation id."""
    text = f"How is my pipeline this week? ({sample.tag})"
    frame: dict[str, Any] = {"type": "user_message", "text": text, "ref": sample.tag}
    if conversation_id:
        frame["conversation_id"] = conversation_id
    turn = Turn(text, sample.tag)
    sample.sent = time.monotonic()
    await ws.send(json.dumps(frame))
    while not turn.finished:
        event = json.loads(await ws.recv())
        turn.take(event, time.monotonic(), sample)
        conversation_id = turn.conversation_id or conversation_id
    return conversation_id


class Turn:
    """Follows one message's events among everything the socket receives (old turns, pings)."""

    def __init__(self, text: str, ref: str) -> None:
        self.text, self.ref = text, ref
        self.turn_id: str | None = None
        self.assistant_id: str | None = None
        self.conversation_id: str | None = None
        self.finished = False

    def take(self, event: dict[str, Any], at: float, sample: Sample) -> None:
        kind = event.get("type")
        if kind == "conversation.created" and event.get("ref") == self.ref:
            self.conversation_id = event["conversation_id"]
        elif kind == "error" and event.get("ref") == self.ref:
            raise Failed(f"frame_{event.get('code')}", str(event.get("message")))
        elif kind == "message.created" and event.get("role") == "user":
            if event.get("content") == self.text:
                self.turn_id = event.get("turn_id")
        elif self.turn_id is not None and event.get("turn_id") == self.turn_id:
            self._own(kind, event, at, sample)

    def _own(self, kind: object, event: dict[str, Any], at: float, sample: Sample) -> None:
        if kind == "message.created" and event.get("role") == "assistant":
            self.assistant_id = event["message_id"]
        elif kind == "text.delta" and sample.first_delta is None:
            sample.first_delta = at
        elif kind == "error":
            raise Failed(f"turn_{event.get('code')}", str(event.get("message")))
        elif kind == "message.completed" and event.get("message_id") == self.assistant_id:
            if event.get("status") != "complete":
                raise Failed(f"completed_{event.get('status')}", json.dumps(event)[:300])
            sample.completed = at
            self.finished = True


async def still_open(ws: ClientConnection) -> bool:
    """The server still answers on this socket (a ping frame of the protocol gets a pong)."""
    try:
        await ws.send(json.dumps({"type": "ping", "ref": "held"}))
        async with asyncio.timeout(30):
            while True:
                event = json.loads(await ws.recv())
                if event.get("type") == "pong" and event.get("ref") == "held":
                    return True
    except (ConnectionClosed, TimeoutError):
        return False


async def run_sessions(load: Load) -> list[asyncio.Task[None]]:
    """Start the sessions at `--ramp` per second (the tasks run on; this returns when started)."""
    tasks = []
    started = time.monotonic()
    for index in range(load.options.sessions):
        delay = started + index / load.options.ramp - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(session(load, index)))
    return tasks


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Observed:
    memory: dict[str, Memory] = field(default_factory=dict)
    peak: float = 0.0
    client_lags: list[float] = field(default_factory=list)
    cpu: dict[str, tuple[float, float]] = field(default_factory=dict)


async def sample_peak(processes: Processes, observed: Observed) -> None:
    while True:
        observed.peak = max(observed.peak, processes.memory().serve)
        await asyncio.sleep(0.5)


async def drive(load: Load, processes: Processes, observed: Observed) -> float:
    """Run the sessions; the wall time from the first connection to the last socket closed."""
    started = time.monotonic()
    observed.cpu["start"] = processes.cpu()
    tasks = await run_sessions(load)
    await load.all_connected.wait()
    observed.memory["all sessions connected"] = processes.memory()
    await load.all_done.wait()
    observed.memory["after the last message (all held)"] = processes.memory()
    for outcome in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(outcome, BaseException):
            load.fail(f"client_{type(outcome).__name__}", repr(outcome))
    wall = time.monotonic() - started
    observed.cpu["end"] = processes.cpu()
    await asyncio.sleep(2)
    observed.memory["end (sockets closed, 2 s later)"] = processes.memory()
    return wall


async def bench(options: Options, model_url: str, data_dir: Path) -> Report:
    env = neptune_env(options, data_dir, model_url)
    await run_neptune(env, "demo")
    token = (await run_neptune(env, "token", "--workspace", "acme-demo")).strip()
    serve = await start_serve(env, data_dir / "serve.log", options.worker)
    processes = Processes(serve.process.pid, data_dir)
    observed = Observed()
    report = Report(options, serve.ready_seconds)
    try:
        await asyncio.sleep(1)
        observed.memory["idle (ready, 1 s later)"] = processes.memory()
        peak = asyncio.create_task(sample_peak(processes, observed))
        lag = asyncio.create_task(_loop_lag(observed.client_lags))
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=serve.base_url, limits=limits, timeout=30,
                                     trust_env=False) as http:
            load = Load(options, serve.base_url, token, http)
            report.wall = await drive(load, processes, observed)
            report.healthy = await health(http)
        peak.cancel()
        lag.cancel()
        report.load, report.observed = load, observed
    finally:
        report.exit_code = await stop_serve(serve)
        report.server_log = read_log(serve.log_path)
        report.postgres = await stop_postgres(data_dir)
    return report


async def health(http: httpx.AsyncClient) -> str:
    """Whether serve still answers (a crashed background task can stop its HTTP server)."""
    try:
        response = await http.get("/healthz", timeout=5)
    except httpx.HTTPError as exc:
        return f"no ({type(exc).__name__})"
    return "yes" if response.status_code == 200 else f"no (HTTP {response.status_code})"


# -- the report --------------------------------------------------------------------------------
def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(samples: list[float]) -> str:
    if not samples:
        return "(no samples)"
    return (f"p50 {statistics.median(samples) * 1000:8.1f} ms   "
            f"p95 {percentile(samples, 0.95) * 1000:8.1f} ms   "
            f"max {max(samples) * 1000:8.1f} ms")


@dataclass
class Report:
    options: Options
    ready_seconds: float
    wall: float = 0.0
    load: Load | None = None
    observed: Observed | None = None
    model: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    healthy: str = "not asked"
    server_log: str = ""
    postgres: str = ""

    def print(self) -> None:
        o = self.options
        print(f"\nWebSocket load: {o.sessions} sessions x {o.messages} messages, think "
              f"{o.think:g} s (jittered), ramp {o.ramp:g}/s, model {o.chunks} chunks "
              f"{o.chunk_delay * 1000:g} ms apart, NEPTUNE_DB_POOL_SIZE={o.pool_size} (up to "
              f"{2 * o.pool_size} connections with the overflow), "
              f"deflate {'on' if o.deflate else 'off'}, {os.cpu_count()} CPUs")
        print(f"serve ready in {self.ready_seconds:.2f} s (process start to 'Neptune is ready')")
        if self.load is not None and self.observed is not None:
            self._sessions(self.load)
            self._latency(self.load)
            self._resources(self.observed)
        print(f"serve answered /healthz after the run: {self.healthy}; exit code "
              f"{self.exit_code}; {self.postgres}")
        self._log()

    def _sessions(self, load: Load) -> None:
        completed = [s for s in load.samples if s.completed is not None]
        print(f"sessions requested {self.options.sessions}, connected {load.connected}, "
              f"held to the end {load.held}")
        sent = self.options.sessions * self.options.messages
        print(f"messages completed {len(completed)} of {sent} in {self.wall:.1f} s wall "
              f"({len(completed) / max(self.wall, 1e-9):.1f}/s)")
        print(f"errors: {dict(load.errors) or 'none'}")
        for kind, example in load.examples.items():
            print(f"  {kind}: {example}")

    def _latency(self, load: Load) -> None:
        arrivals: dict[str, float] = self.model.get("arrivals", {})
        delay = self.options.chunk_delay
        firsts = {s.tag: (s.sent, s.first_delta) for s in load.samples if s.first_delta}
        ends = [s.completed - s.sent for s in load.samples if s.completed]
        paired = [(arrivals[tag], sent, first) for tag, (sent, first) in firsts.items()
                  if tag in arrivals]
        before = [arrived - sent for arrived, sent, _ in paired]
        after = [first - arrived - delay for arrived, _, first in paired]
        added = [b + a for b, a in zip(before, after, strict=True)]
        rows = [("client TTFT (frame sent -> first text.delta)", ms(
                    [first - sent for sent, first in firsts.values()])),
                ("client time to message.completed", ms(ends)),
                ("model's own time to first token", f"{delay * 1000:.1f} ms by script"),
                ("model server's loop lag", ms(self.model.get("lags", []))),
                ("Neptune added before the first token", ms(added)),
                ("  of which before the model (send -> request)", ms(before)),
                ("  of which after it (first chunk -> delta)", ms(after))]
        for label, value in rows:
            print(f"{label:<48} {value}")
        print(f"  ({len(paired)} of {len(firsts)} first tokens paired with a model request; "
              f"model requests seen {len(arrivals)}, unscripted {self.model.get('unscripted')})")

    def _resources(self, observed: Observed) -> None:
        for label, memory in observed.memory.items():
            print(f"memory {label:<36} {memory}")
        print(f"memory serve peak (sampled every 0.5 s)       {observed.peak:7.1f} MiB")
        (s0, p0), (s1, p1) = observed.cpu["start"], observed.cpu["end"]
        wall = max(self.wall, 1e-9)
        print(f"CPU during the run: serve {s1 - s0:.1f} s ({(s1 - s0) / wall:.0%} of a core), "
              f"postgres (live processes) {p1 - p0:.1f} s, this client "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f} s user")
        print(f"client event-loop lag {ms(observed.client_lags)}")

    def _log(self) -> None:
        """What serve wrote to stderr, folded: each distinct error line and how often."""
        lines = [line for line in self.server_log.splitlines()
                 if re.match(r"^(\w+\.)*\w*(Error|Exception|Timeout)\b|^ERROR|^WARNING", line)]
        print(f"serve stderr: {len(self.server_log.splitlines())} lines, "
              f"{self.server_log.count('Traceback')} tracebacks")
        for line, count in Counter(lines).most_common(8):
            print(f"  {count:5d} x {line[:200]}")


# -- main --------------------------------------------------------------------------------------
def raise_open_files() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@contextlib.contextmanager
def model_server(options: Options) -> Iterator[tuple[str, Connection]]:
    parent, child = multiprocessing.get_context("fork").Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=model_process, args=(child, options.chunks, options.chunk_delay), daemon=True)
    process.start()
    try:
        yield parent.recv(), parent
    finally:
        process.join(10)
        if process.is_alive():
            process.kill()


def model_results(conn: Connection) -> dict[str, Any]:
    conn.send("stop")
    results: dict[str, Any] = conn.recv()
    return results


def parse(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=3, help="per session (3)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="seconds between a session's messages, jittered x0.5-1.5 (1)")
    parser.add_argument("--ramp", type=float, default=200.0, help="sessions opened a second")
    parser.add_argument("--timeout", type=float, default=60.0, help="per message, seconds")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per answer")
    parser.add_argument("--chunk-delay", type=float, default=0.02, help="seconds between chunks")
    parser.add_argument("--pool-size", type=int, default=20, help="NEPTUNE_DB_POOL_SIZE (20)")
    parser.add_argument("--no-deflate", action="store_true",
                        help="no permessage-deflate (browsers do negotiate it)")
    parser.add_argument("--keep-log", type=Path, help="copy serve's stderr to this file")
    parser.add_argument("--no-worker", action="store_true",
                        help="serve --no-worker (no in-process background worker)")
    args = parser.parse_args(argv)
    return Options(args.sessions, args.messages, args.think, args.ramp, args.timeout,
                   args.chunks, args.chunk_delay, args.pool_size, not args.no_deflate,
                   not args.no_worker), args.keep_log


def main() -> None:
    options, keep_log = parse()
    print(f"open-file limit raised to {raise_open_files()}; "
          f"NEPTUNE_DB_POOL_SIZE={options.pool_size}")
    data_dir = Path(tempfile.mkdtemp(prefix="neptune-wsload-"))
    try:
        with model_server(options) as (model_url, conn):
            try:
                report = asyncio.run(bench(options, model_url, data_dir))
            finally:
                model = model_results(conn)
        report.model = model
        report.print()
    finally:
        if keep_log is not None and (data_dir / "serve.log").exists():
            shutil.copyfile(data_dir / "serve.log", keep_log)
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"removed {data_dir}")


if __name__ == "__main__":
    main()
