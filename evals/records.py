"""What a run records: one `TrialRecord` per (case, model, prompt version, trial), and the run
around them. These are the JSON report's schema, which `compare` and the HTML report read back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Check(_Record):
    """One scorer's verdict; `detail` says why it failed (or what it saw)."""

    name: str
    passed: bool
    detail: str = ""


class ToolUse(_Record):
    call_id: str
    name: str
    arguments: Any = None
    status: str = "started"
    result: Any = None
    error: str | None = None
    approval: str | None = None  # requested | approved | rejected


class Said(_Record):
    role: str  # user | assistant
    text: str


class TrialRecord(_Record):
    case_id: str
    domain: str
    tags: list[str] = Field(default_factory=list)
    model: str
    prompt_version: str
    trial: int
    passed: bool = False
    checks: list[Check] = Field(default_factory=list)
    transcript: list[Said] = Field(default_factory=list)
    tool_uses: list[ToolUse] = Field(default_factory=list)
    diff: list[str] = Field(default_factory=list)
    selection: float | None = None
    arguments: float | None = None
    state_match: bool | None = None
    approvals_ok: bool | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0  # the slowest turn's wall time
    turn_ms: list[int] = Field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def cell(self) -> str:
        return cell_name(self.model, self.prompt_version)


def cell_name(model: str, prompt_version: str) -> str:
    return f"{model} @ {prompt_version}"


class RunInfo(_Record):
    started_at: str
    seconds: float
    datasets: list[str]
    models: list[str]
    prompt_versions: list[str]
    trials: int
    concurrency: int
    cases: int
    cache: dict[str, int] = Field(default_factory=dict)
    tools: dict[str, str] = Field(default_factory=dict)  # name -> schema hash, as measured
    prompts: dict[str, str] = Field(default_factory=dict)  # version -> hash of its templates
    timings: dict[str, float] = Field(default_factory=dict)


class RunReport(_Record):
    """The JSON report: the run, every trial, and the metrics computed from them."""

    info: RunInfo
    trials: list[TrialRecord]
    metrics: dict[str, Any] = Field(default_factory=dict)
