"""The Exchange and registry fault matrix: which faults, at which position of the publish sequence, and the
proxy rule that puts one fault at one position of one publication only.

Exchange positions are the writes of one publication, told apart by its service id, pattern and policy
names; a service is created by a POST to the org's collection, so that rule also matches the body's url.
Creation is a POST; an update position first makes the publication Ready, then changes one spec field so
that the operator PUTs that one object.
Registry positions are the pull check's manifest HEAD by digest and its token request; every such
scenario has an image repository of its own (with ``followTag`` off, the EdgeServiceImage does not ask
the registry again), so nothing but its publication's check is faulted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from horizon_publisher.sandbox.fault_http import (
    Fault,
    Rule,
    expired_token,
    http_status,
    refused,
    reset_mid_response,
    timeout,
)

Backend = Literal["exchange", "registry", "token"]

# The client's read timeout is 30 s: a held answer outlasts it (the proxy lets go when the client hangs up).
HELD = timeout(hold_seconds=40)

FAULTS: dict[str, Fault] = {
    "HTTP 500": http_status(500),
    "HTTP 502": http_status(502),
    "HTTP 503": http_status(503),
    "HTTP 503 + Retry-After 2": http_status(503, retry_after=2),
    "HTTP 429 + Retry-After 1": http_status(429, retry_after=1),
    "refused": refused(),
    "reset mid-response": reset_mid_response(),
    "timeout": HELD,
}
TOKEN_FAULTS: dict[str, Fault] = {**FAULTS, "expired token": expired_token()}

EXCHANGE_POSITIONS = (
    "service POST (create)",
    "service PUT (update)",
    "key PUT",
    "dockauth POST",
    "pattern POST (create)",
    "pattern PUT (update)",
    "deployment policy POST (create)",
    "deployment policy PUT (update)",
)
# An update position: the publication is made Ready first, then this spec field changes (and nothing else),
# so the operator PUTs that one object.
UPDATES = {
    "service PUT (update)": ("service", "label"),
    "pattern PUT (update)": ("pattern", "description"),
    "deployment policy PUT (update)": ("deploymentPolicy", "description"),
}
UPDATED = "updated while faults are injected"
REGISTRY_POSITION = "manifest HEAD"
TOKEN_POSITION = "token GET"

# How many matching requests in a row fail: more than the Exchange client's 3 retries, so one reconcile
# fails and a later one recovers; the registry client does not retry, so 3 failed checks in a row. A
# timeout costs 30 s each, so one.
EXCHANGE_TIMES, REGISTRY_TIMES = 5, 3


@dataclass(frozen=True)
class Scenario:
    backend: Backend
    position: str
    fault_name: str
    fault: Fault
    times: int

    @property
    def key(self) -> str:
        return f"{self.backend}: {self.position}: {self.fault_name}"

    @property
    def needs_own_image(self) -> bool:
        return self.backend != "exchange"

    @property
    def update(self) -> tuple[str, str] | None:
        """(spec section, field) changed once the publication is Ready; None: the fault hits its creation."""
        return UPDATES.get(self.position)


def _times(fault: Fault, default: int) -> int:
    return 1 if fault.kind == "timeout" else default


def scenarios() -> list[Scenario]:
    exchange = [
        Scenario("exchange", position, name, fault, _times(fault, EXCHANGE_TIMES))
        for position in EXCHANGE_POSITIONS
        for name, fault in FAULTS.items()
    ]
    registry = [
        Scenario("registry", REGISTRY_POSITION, name, fault, _times(fault, REGISTRY_TIMES))
        for name, fault in FAULTS.items()
    ]
    token = [
        Scenario("token", TOKEN_POSITION, name, fault, _times(fault, REGISTRY_TIMES))
        for name, fault in TOKEN_FAULTS.items()
    ]
    return exchange + registry + token


@dataclass(frozen=True)
class Names:
    """What one scenario's publication writes: its ids in the Exchange and its image repository."""

    org: str
    url: str
    sid: str
    pattern: str
    policy: str
    repository: str


def rule_for(scenario: Scenario, names: Names) -> Rule:
    """The proxy rule that faults ``scenario.times`` requests at the scenario's position, for its names only."""
    org, sid = re.escape(names.org), re.escape(names.sid)
    base = f"^/v1/orgs/{org}"
    pattern, policy = (
        f"{base}/patterns/{re.escape(names.pattern)}$",
        f"{base}/business/policies/{re.escape(names.policy)}$",
    )
    targets: dict[str, tuple[str, str, str | None]] = {
        "service POST (create)": ("POST", f"{base}/services$", rf'"url":\s*"{re.escape(names.url)}"'),
        "service PUT (update)": ("PUT", f"{base}/services/{sid}$", None),
        "key PUT": ("PUT", f"{base}/services/{sid}/keys/[^/]+$", None),
        "dockauth POST": ("POST", f"{base}/services/{sid}/dockauths$", None),
        "pattern POST (create)": ("POST", pattern, None),
        "pattern PUT (update)": ("PUT", pattern, None),
        "deployment policy POST (create)": ("POST", policy, None),
        "deployment policy PUT (update)": ("PUT", policy, None),
        REGISTRY_POSITION: ("HEAD", f"^/v2/{re.escape(names.repository)}/manifests/sha256:", None),
        TOKEN_POSITION: ("GET", rf"^/openshift/token\?.*scope=repository:{re.escape(names.repository)}:pull", None),
    }
    method, target, body = targets[scenario.position]
    return Rule(method, target, scenario.fault, body=body, count=scenario.times, name=scenario.key)
