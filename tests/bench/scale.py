"""Performance at scale (issue 8): the operator against a trivial kopf baseline, N pairs, steady state, churn.

Not a pass/fail test: it measures and writes ``docs/benchmarks.md`` (section "Scale") and
``docs/benchmarks-scale.json``. For each N (default 100 and 1000), in one sandbox:

1. baseline: a trivial kopf operator (one handler per kind that only patches status) handles N
   EdgeServiceImages + N EdgePublications; then its namespaces are deleted;
2. first publication: ``horizon-publisher run`` (as its ServiceAccount, all namespaces) takes N pairs to
   Ready: projects, service accounts, role bindings, tokens, CA, credentials, digests, signed services, keys,
   dockauths. Images are pushed beforehand;
3. steady state: one resync interval with everything Ready, then a restart of the operator and its resume
   pass: writes to every backend and reads per pair;
4. churn: the image tag of 10 % of the pairs is bumped (new digests) and every token is rotated (the
   rotation annotation); time until every publication has republished, then verified in the Exchange.

    .venv/bin/python -m tests.bench.scale [N ...] [--resync SECONDS] [--key-bits BITS]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.bench import scale_report
from tests.bench.scale_churn import churn
from tests.bench.scale_meter import ProcessMeter, RequestMeter
from tests.bench.scale_watch import ReadyWatch
from tests.bench.scale_world import (
    EPUB,
    ESI,
    GROUP,
    NEXT_TAG,
    TAG,
    TEAMS,
    VERSION,
    World,
    publication,
    service_image,
)
from tests.e2e.conftest import start_sandbox

from horizon_publisher.sandbox import manager

ROOT = Path(__file__).resolve().parents[2]


def create_all(api: Any, manifests: list[dict[str, Any]]) -> None:
    custom = client.CustomObjectsApi(api)

    def create(manifest: dict[str, Any]) -> None:
        plural = ESI if manifest["kind"] == "EdgeServiceImage" else EPUB
        custom.create_namespaced_custom_object(GROUP, VERSION, manifest["metadata"]["namespace"], plural, manifest)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, manifests))


def pairs(n: int, prefix: str, world: World) -> list[dict[str, Any]]:
    manifests = []
    for i in range(n):
        manifests += [service_image(i, prefix), publication(i, prefix, world.exchange)]
    return manifests


def measure_first(world: World, meter: RequestMeter, label: str, n: int, start: Callable[[], Any]) -> dict[str, Any]:
    """Start an operator, apply N pairs, wait until all 2N objects are Ready; what it cost."""
    prefix = f"{label}{n}"
    world.prepare_teams(prefix)
    tracked = start()
    process = ProcessMeter(world.sandbox.state_dir, tracked.pid)
    watch = ReadyWatch(world.sandbox.api_client(), prefix)
    meter.reset()
    process.start()
    began = time.monotonic()
    create_all(world.sandbox.api_client(), pairs(n, prefix, world))
    applied = time.monotonic() - began
    waited = watch.wait(2 * n, timeout=60 + 2.0 * n, label=f"{label} N={n} Ready")
    wall = None if waited is None else time.monotonic() - began
    time.sleep(2.0)  # the tail: last status patches and Events
    result = {
        "operator": label,
        "n": n,
        "applied_s": round(applied, 2),
        "all_ready_s": None if wall is None else round(wall, 2),
        "ready": watch.ready(),
        "images_ready_s": watch.last_ready(ESI, began),
        "publications_ready_s": watch.last_ready(EPUB, began),
        "objects_per_s": None if wall is None else round(2 * n / wall, 1),
        **process.stop(),
        "requests": meter.read().__dict__,
    }
    result["cpu_ms_per_pair"] = round(result["cpu_s"] * 1000 / n, 2)
    watch.close()
    return result


def measure_steady(world: World, meter: RequestMeter, n: int, resync: int) -> dict[str, Any]:
    """All Ready: one resync interval of the running operator, then a restart and its resume pass."""
    tracked = world.process()
    process = ProcessMeter(world.sandbox.state_dir, tracked.pid)
    meter.reset()
    process.start()
    before = world.reconciles()
    sys.stderr.write(f"  steady state: one resync interval ({resync} s)...\n")
    time.sleep(resync + 5)
    resync_pass = {
        "window_s": resync + 5,
        "reconciles": world.reconciles() - before,
        **process.stop(),
        "requests": meter.read().__dict__,
    }
    world.stop_operator()
    tracked = world.start_operator(resync)
    process = ProcessMeter(world.sandbox.state_dir, tracked.pid)
    meter.reset()
    process.start()
    began = time.monotonic()
    while world.reconciles() < 2 * n and time.monotonic() - began < resync:
        time.sleep(0.5)
    resumed_s = time.monotonic() - began
    time.sleep(2.0)
    restart = {
        "resume_pass_s": round(resumed_s, 1),
        "reconciles": world.reconciles(),
        **process.stop(),
        "requests": meter.read().__dict__,
    }
    return {"resync": resync_pass, "restart": restart}


def seed_exchange(state_dir: Path) -> None:
    """The sandbox Exchange's seed, written before it first starts, with ``api.limits.maxServices`` raised: the
    Exchange's default (1000 per owning user) would refuse the 1001st service of N = 1000 two-arch pairs, as a
    real Exchange would; an org publishing that much raises the limit (or spreads services over users)."""
    exchange = state_dir / "exchange"
    exchange.mkdir(parents=True)
    seed = {
        "org": manager.EXCHANGE_ORG,
        "user": manager.EXCHANGE_USER,
        "password": secrets.token_urlsafe(18),
        "rootPassword": secrets.token_urlsafe(18),
        "certFile": "pki/router.crt",
        "keyFile": "pki/router.key",
        "limits": {"maxServices": 10000},
    }
    (exchange / "seed.json").write_text(json.dumps(seed))
    (exchange / "seed.json").chmod(0o600)


@contextlib.contextmanager
def sandbox_world(directory: Path, key_bits: int) -> Iterator[World]:
    seed_exchange(directory / "sandbox")
    sandbox = start_sandbox(directory / "sandbox")
    try:
        world = World(sandbox, directory / "operator.kubeconfig", key_bits)
        world.install()
        yield world
    finally:
        world.stop_all()
        manager.down(sandbox.state_dir, out=lambda _: None)


def run(n: int, resync: int, key_bits: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory, sandbox_world(Path(directory), key_bits) as world:
        endpoints = world.sandbox.endpoints
        admin = Path(endpoints["kubernetes"]["adminTokenFile"]).read_text().strip()
        registry_log = world.sandbox.state_dir / "registry" / "registry.log"
        meter = RequestMeter(endpoints, admin, registry_log, world.operator_user)
        sys.stderr.write(f"N={n}: pushing {2 * n} images (+{2 * (n // 10)} for the churn)...\n")
        world.push_images(range(n), TAG)
        world.push_images(range(0, n, 10), NEXT_TAG)
        baseline = measure_first(world, meter, "baseline", n, world.start_baseline)
        world.stop_baseline()
        world.delete_teams(f"baseline{n}")
        operator = measure_first(world, meter, "operator", n, lambda: world.start_operator(resync))
        steady = measure_steady(world, meter, n, resync)
        churned = churn(world, meter, n)
        return {
            "n": n,
            "resync_s": resync,
            "key_bits": key_bits,
            "teams": TEAMS,
            "baseline": baseline,
            "operator": operator,
            "steady": steady,
            "churn": churned,
        }


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--resync", type=int, default=60, help="resync interval of the operator (default 60 s)")
    parser.add_argument("--key-bits", type=int, default=4096, help="RSA signing key size (default 4096, as hzn)")
    parser.add_argument("--json", type=Path, help="write the JSON here instead of docs/ (docs/ left alone)")
    args = parser.parse_args(argv)
    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "cpus": __import__("os").cpu_count(),
        "cpu_model": scale_report.cpu_model(),
        "python": platform.python_version(),
    }
    runs = []
    for n in args.sizes:
        result = run(n, args.resync, args.key_bits)
        runs.append(result)
        print(scale_report.summary(result))
    report = {"machine": machine, "runs": runs}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        return
    (ROOT / "docs" / "benchmarks-scale.json").write_text(json.dumps(report, indent=2) + "\n")
    scale_report.write_markdown(ROOT / "docs" / "benchmarks.md", report)


if __name__ == "__main__":
    main(sys.argv[1:])
