"""The churn phase: 10 % of the pairs get a new image tag, every token is rotated; until all republished.

"Republished" is read from the operator's Events (arrival time at the watch): each publication's
``DockAuthRotated`` and, for a bumped pair, ``Resigned``; then all 2N objects Ready again. "Verified" is
checked in the Exchange as its root user (so the counts of the operator's user stay clean): each service
has exactly one dockauth, holding the token now in the image's credentials Secret, and a bumped pair's
deployment pins the new digests.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.bench.scale_meter import ProcessMeter, RequestMeter
from tests.bench.scale_watch import EventWatch, ReadyWatch, progress
from tests.bench.scale_world import ARCHES, ESI, GROUP, NEXT_TAG, ROTATE_ANNOTATION, VERSION, World, name, team

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint

PREFIX = "operator"


def bumped(i: int) -> bool:
    return i % 10 == 0


def churn(world: World, meter: RequestMeter, n: int) -> dict[str, Any]:
    prefix = f"{PREFIX}{n}"
    api = world.sandbox.api_client()
    custom = client.CustomObjectsApi(api)
    value = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = EventWatch(api, prefix, ("DockAuthRotated", "Resigned", "TokenRotated"))
    ready = ReadyWatch(api, prefix)
    time.sleep(1.0)  # both watches established
    process = ProcessMeter(world.sandbox.state_dir, world.process().pid)
    meter.reset()
    process.start()
    began = time.monotonic()

    def change(i: int) -> None:
        body: dict[str, Any] = {"metadata": {"annotations": {ROTATE_ANNOTATION: value}}}
        if bumped(i):
            body["spec"] = {"image": {"tag": NEXT_TAG}}
        custom.patch_namespaced_custom_object(GROUP, VERSION, team(i, prefix), ESI, name(i), body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(change, range(n)))
    expected_resigned = len([i for i in range(n) if bumped(i)])
    deadline = began + 600 + n
    republished_s = None
    while time.monotonic() < deadline:
        rotated = events.count(("DockAuthRotated",), "EdgePublication")
        resigned = events.count(("Resigned",), "EdgePublication")
        progress(f"churn N={n} republished", min(rotated, n) + min(resigned, expected_resigned),
                 n + expected_resigned, time.monotonic() - began)  # fmt: skip
        if rotated >= n and resigned >= expected_resigned:
            republished_s = time.monotonic() - began
            break
        time.sleep(0.2)
    sys.stderr.write("\n")
    ready_s = ready.wait(2 * n, timeout=max(10.0, deadline - time.monotonic()), label=f"churn N={n} Ready")
    all_ready_s = None if ready_s is None else time.monotonic() - began
    time.sleep(2.0)
    measured = {**process.stop(), "requests": meter.read().__dict__}
    verify_began = time.monotonic()
    problems = verify(world, n, prefix)
    events.close()
    ready.close()
    return {
        "bumped": expected_resigned,
        "rotated": n,
        "republished_s": None if republished_s is None else round(republished_s, 1),
        "all_ready_s": None if all_ready_s is None else round(all_ready_s, 1),
        "verify_s": round(time.monotonic() - verify_began, 1),
        "verified": n - len(problems),
        "problems": problems[:10],
        "token_rotated_events": events.count(("TokenRotated",), "EdgeServiceImage"),
        **measured,
    }


def verify(world: World, n: int, prefix: str) -> list[str]:
    core = client.CoreV1Api(world.sandbox.api_client())
    custom = client.CustomObjectsApi(world.sandbox.api_client())
    endpoints = world.sandbox.endpoints["exchange"]
    seed = json.loads((world.sandbox.state_dir / "exchange" / "seed.json").read_text())
    root = ExchangeEndpoint(
        url=endpoints["url"],
        org=endpoints["org"],
        username="root/root",
        password=seed["rootPassword"],
        ca_pem=Path(endpoints["caFile"]).read_text(),
    )

    def check(i: int) -> str | None:
        namespace = team(i, prefix)
        secret = core.read_namespaced_secret(f"{name(i)}-registry", namespace)
        config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
        token = next(iter(config["auths"].values()))["password"]
        image = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, ESI, name(i))
        digests = {entry["arch"]: entry["digest"] for entry in image["status"]["images"]}
        with ExchangeClient(root) as exchange:
            for arch in ARCHES:
                sid = f"com.example.bench.{name(i)}_1.0.0_{arch}"
                rows = exchange.list_dockauths(sid)
                if len(rows) != 1 or rows[0].get("token") != token:
                    return f"{sid}: {len(rows)} dockauth(s), current token {'not ' if rows else ''}found"
                service = exchange.get_service(sid) or {}
                if digests[arch] not in str(service.get("deployment")):
                    return f"{sid}: deployment does not pin {digests[arch]}"
        return None

    with ThreadPoolExecutor(8) as pool:
        return [p for p in pool.map(check, range(n)) if p is not None]
