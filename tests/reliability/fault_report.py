"""The recovery table of the Exchange and registry fault matrix: a section of ``docs/reliability.md`` (only
that section is replaced; other sections belong to other suites) and ``docs/reliability-faults.json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.reliability.fault_matrix import (
    EXCHANGE_POSITIONS,
    EXCHANGE_TIMES,
    REGISTRY_POSITION,
    REGISTRY_TIMES,
    TOKEN_FAULTS,
    TOKEN_POSITION,
)
from tests.reliability.fault_run import FAULT_WINDOW, RECOVERY_BOUND, STABLE, Outcome

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
JSON_FILE = ROOT / "docs" / "reliability-faults.json"
HEADING = "## Exchange and registry faults"
TITLE = "# Reliability\n\nWhat the reliability suite (`tests/reliability/`) injects and how the operator recovers.\n"
POSITIONS = (
    *(f"exchange: {p}" for p in EXCHANGE_POSITIONS),
    f"registry: {REGISTRY_POSITION}",
    f"token: {TOKEN_POSITION}",
)


def _cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return "n/a"
    if not outcome.recovered:
        return "**no**"
    mark = "yes" if not outcome.problems else "yes, **but**"
    return f"{mark} {outcome.seconds_to_recover:.1f} s"


def render_section(
    outcomes: Iterable[Outcome],
    *,
    wall_seconds: float,
    concurrency: int,
    starved: tuple[int, float | None] | None,
) -> str:
    """``starved``: (publications hung, a healthy one's seconds to Ready or None); None when not measured."""
    found: dict[str, dict[str, Outcome]] = {position: {} for position in POSITIONS}
    for outcome in outcomes:
        found[f"{outcome.scenario.backend}: {outcome.scenario.position}"][outcome.scenario.fault_name] = outcome
    faults = list(TOKEN_FAULTS)
    rows = [
        f"| position | {' | '.join(faults)} |",
        f"| --- |{' --- |' * len(faults)}",
        *(f"| {p} | {' | '.join(_cell(found[p].get(f)) for f in faults)} |" for p in POSITIONS),
    ]
    every = [o for position in POSITIONS for o in found[position].values()]
    detail = [
        "| fault | position | recovered | s to recover | s apply to Ready | faults | requests at position | "
        "Ready reasons seen | problems |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {o.scenario.fault_name} | {o.scenario.backend}: {o.scenario.position} | "
            f"{'yes' if o.recovered else 'no'} | {_number(o.seconds_to_recover)} | {_number(o.seconds_total)} | "
            f"{o.faults_fired} | {o.requests_at_position} | {', '.join(o.reasons_seen) or '-'} | "
            f"{'; '.join(o.problems) or '-'} |"
            for o in every
        ),
    ]
    recovered = sum(o.recovered and not o.problems for o in every)
    return "\n".join(
        [
            HEADING,
            "",
            f"Measured by `tests/reliability/test_exchange_registry_faults.py`: {len(every)} scenarios, "
            f"{concurrency} at a time against one operator (2 s resync), {wall_seconds:.0f} s in all; "
            f"{recovered} recovered with every invariant holding.",
            "",
            "Each scenario has a publication of its own (service, key, dockauth, pattern, deployment policy) and a "
            "fault-injecting HTTPS proxy (`sandbox/fault_http.py`) in front of the Exchange, the registry and the "
            f"registry's token endpoint. Exchange faults hit the first {EXCHANGE_TIMES} requests at the position "
            f"(more than the client's 3 retries, so one reconcile fails), registry and token faults the first "
            f"{REGISTRY_TIMES} (that client does not retry), a timeout (answer held past the client's 30 s read "
            f"timeout) one; a fault ends when its requests are used up or {FAULT_WINDOW:.0f} s after it first "
            "fired. *Seconds to recover*: from the end of the last faulted request to the start of a Ready=True "
            f"that then holds for {STABLE:.0f} s (0 when retries inside one call hid the fault); a scenario fails "
            f"beyond {RECOVERY_BOUND:.0f} s.",
            "",
            "After recovery: the Exchange holds exactly the desired service, exactly the current key (also on the "
            "pattern), exactly one dockauth with the current token, the pattern and deployment policy; `horizon-"
            "publisher verify` accepts the signature; the status agrees; no secret is in the status or Events; "
            "no Retry-After was cut short and no burst of requests hit the position; deleting the publication "
            "removes all of it. A service of another user seeded first is untouched at the end. (A retry is the "
            "next request on the same connection: a new reconcile makes a new client and follows the resync.)",
            "",
            "The times are with a 2 s resync. With the default 60 s, a fault that fails a reconcile is retried "
            "by kopf after the failed step's delay (30 s for an Exchange step, 60 s for the registry check) or "
            "at the next resync, whichever comes first; a fault the client's own retries absorb costs the same "
            "as here.",
            "",
            *rows,
            "",
            *([_starvation(*starved), ""] if starved is not None else []),
            "Fixed after this suite found them: the Exchange client retried a POST 0.5 s after a `Retry-After` "
            "of 2 s (it now waits as told, as it did for GET and PUT); a connection reset inside a TLS record "
            "was reported as `ExchangeTLSError` (a trust problem, not retried) and an answer cut mid-body as "
            "`ExchangeProtocolError` (not retried): both are now `ExchangeUnreachable`, retried like any lost "
            "connection (a POST after reading back).",
            "",
            "<details><summary>Every scenario</summary>",
            "",
            *detail,
            "",
            "</details>",
            "",
        ]
    )


def _starvation(hung: int, seconds: float | None) -> str:
    took = "was not Ready within a minute" if seconds is None else f"took {seconds:.1f} s to Ready"
    return (
        f"**Head-of-line blocking:** while the service POSTs of {hung} other publications hung (answer "
        f"held past the 30 s read timeout), a healthy publication {took}. A hung reconcile holds one of kopf's "
        "16 worker threads; its object's resync tick skips it instead of waiting for the object's lock in a "
        "second thread (before that fix the same publication took 28.7 s)."
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def replace_section(text: str, heading: str, section: str) -> str:
    """``text`` with the ``## heading`` section (up to the next ``## ``) replaced by ``section``, or added."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    block = section if section.endswith("\n") else section + "\n"
    if start is None:
        return text.rstrip("\n") + "\n\n" + block
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + block + ("\n" + tail if tail else "")


def as_json(outcomes: Iterable[Outcome], meta: Mapping[str, Any]) -> str:
    rows = [
        {
            "backend": o.scenario.backend,
            "position": o.scenario.position,
            "fault": o.scenario.fault_name,
            "faultedRequests": o.scenario.times,
            "recovered": o.recovered,
            "secondsToRecover": o.seconds_to_recover,
            "secondsApplyToReady": o.seconds_total,
            "secondsToFirstStatus": o.seconds_to_first_status,
            "secondsToDelete": o.seconds_to_delete,
            "faultsFired": o.faults_fired,
            "requestsAtPosition": o.requests_at_position,
            "readyReasonsSeen": o.reasons_seen,
            "problems": o.problems,
        }
        for o in outcomes
    ]
    return json.dumps({**meta, "scenarios": rows}, indent=2) + "\n"


def write(
    outcomes: list[Outcome], *, wall_seconds: float, concurrency: int, starved: tuple[int, float | None] | None
) -> None:
    section = render_section(outcomes, wall_seconds=wall_seconds, concurrency=concurrency, starved=starved)
    text = DOC.read_text() if DOC.exists() else TITLE
    DOC.write_text(replace_section(text, HEADING, section))
    meta = {
        "wallSeconds": round(wall_seconds, 1),
        "concurrency": concurrency,
        "resyncSeconds": 2,
        "hungPublications": None if starved is None else starved[0],
        "healthyPublicationSecondsToReadyWhileHung": None
        if starved is None or starved[1] is None
        else round(starved[1], 1),
    }
    JSON_FILE.write_text(as_json(outcomes, meta))
