"""The rule table of the fault-injecting HTTPS proxy (:mod:`horizon_publisher.sandbox.fault_http`): what a
fault is, which requests a rule picks, and what the proxy records. See that module for the behaviour."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["status", "refuse", "reset", "timeout", "expired_token"]


@dataclass(frozen=True)
class Fault:
    """What the proxy does to a request a rule picked; build with the functions below."""

    kind: FaultKind
    status: int = 503
    retry_after: str | None = None
    body: Mapping[str, Any] | None = None
    hold_seconds: float = 40.0

    @property
    def label(self) -> str:
        if self.kind == "status":
            return f"HTTP {self.status}" + (f" Retry-After {self.retry_after}" if self.retry_after else "")
        return {"refuse": "refused", "reset": "reset mid-response", "timeout": "timeout"}.get(
            self.kind, "expired token"
        )


def http_status(status: int, *, retry_after: str | int | None = None, body: Mapping[str, Any] | None = None) -> Fault:
    """Answer ``status`` (JSON body; by default an Exchange-style ``{"code", "msg"}``)."""
    return Fault("status", status, None if retry_after is None else str(retry_after), body)


def refused() -> Fault:
    return Fault("refuse")


def reset_mid_response() -> Fault:
    return Fault("reset")


def timeout(hold_seconds: float = 40.0) -> Fault:
    """Hold the answer until the client hangs up, at most ``hold_seconds`` (set it above its read timeout)."""
    return Fault("timeout", hold_seconds=hold_seconds)


def expired_token() -> Fault:
    return Fault("expired_token")


@dataclass
class Rule:
    """Which requests get ``fault``; the counters are updated by the proxy (read them, do not write)."""

    method: str
    target: str
    fault: Fault
    body: str | None = None
    nth: int = 1
    count: int | None = 1
    name: str = ""
    matched: int = 0  # matching requests seen while the rule was installed
    fired: int = 0  # faults applied
    ended: int = 0  # faulted requests finished (answered, reset or given up by the client)
    last_end: float | None = None  # time.monotonic() when the last faulted request finished
    # (time.monotonic(), client port) of each matching request's arrival and of each faulted request's end:
    # requests on one connection are one client's retries; a new client (a new reconcile) connects anew.
    starts: list[tuple[float, int]] = field(default_factory=list)
    fault_ends: list[tuple[float, int]] = field(default_factory=list)
    _method: re.Pattern[str] = field(init=False, repr=False)
    _target: re.Pattern[str] = field(init=False, repr=False)
    _body: re.Pattern[str] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.nth < 1 or (self.count is not None and self.count < 0):
            raise ValueError("nth starts at 1; count is a number of requests")
        self._method = re.compile(self.method)
        self._target = re.compile(self.target)
        self._body = None if self.body is None else re.compile(self.body)

    @property
    def exhausted(self) -> bool:
        """Every fault this rule will ever apply has been applied and has finished."""
        return self.count is not None and self.ended >= self.count

    def wants_body(self, method: str, target: str) -> bool:
        return self._body is not None and self._head_matches(method, target)

    def matches(self, method: str, target: str, body: bytes | None) -> bool:
        if not self._head_matches(method, target):
            return False
        return self._body is None or (
            body is not None and self._body.search(body.decode("utf-8", "replace")) is not None
        )

    def _head_matches(self, method: str, target: str) -> bool:
        return self._method.fullmatch(method) is not None and self._target.search(target) is not None

    def in_flight(self) -> int:
        """Faulted requests not finished yet (e.g. held by a timeout)."""
        return self.fired - self.ended

    def covers(self, number: int) -> bool:
        return number >= self.nth and (self.count is None or number < self.nth + self.count)


@dataclass(frozen=True)
class Recorded:
    """One request through the proxy. ``outcome``: ``HTTP 200`` (forwarded) or ``fault: <label>``."""

    started: float
    ended: float
    method: str
    path: str
    outcome: str
    rule: str | None = None
