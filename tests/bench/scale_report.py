"""Tables for the scale benchmark: a short summary per run (stdout) and the "Scale" section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SECTION = "## Scale"
BACKENDS = ("kubernetes", "registry", "registry-token", "exchange")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _per(value: float | int | None, n: int, digits: int = 2) -> str:
    return "-" if value is None else f"{value / n:.{digits}f}"


def _requests(result: dict[str, Any], backend: str, kind: str) -> int:
    return int(result["requests"]["by_backend"].get(backend, {}).get(kind, 0))


def _emulators(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in result["emulator_cpu_s"].items())


def summary(run: dict[str, Any]) -> str:
    n, base, op = run["n"], run["baseline"], run["operator"]
    base_cpu_per_object = base["cpu_s"] * 1000 / (2 * n)
    lines = [
        f"N={n}: baseline {base['all_ready_s']} s, operator {op['all_ready_s']} s to all Ready",
        f"  CPU: baseline {base_cpu_per_object:.2f} ms/object, operator {op['cpu_ms_per_pair']} ms/pair "
        f"({op['cpu_ms_per_pair'] / base_cpu_per_object:.1f}x)",
        f"  peak RSS: baseline {base['peak_rss_mib']} MiB, operator {op['peak_rss_mib']} MiB "
        f"({op['peak_rss_mib'] / base['peak_rss_mib']:.2f}x)",
        f"  steady writes: {steady_writes(run)}; churn republished in {run['churn']['republished_s']} s, "
        f"verified {run['churn']['verified']}/{n}",
    ]
    return "\n".join(lines)


def steady_writes(run: dict[str, Any]) -> dict[str, int]:
    both = (run["steady"]["resync"], run["steady"]["restart"])
    return {b: sum(_requests(r, b, "writes") for r in both) for b in BACKENDS}


def _row(label: str, values: list[str]) -> str:
    return f"| {label} | " + " | ".join(values) + " |"


def run_table(run: dict[str, Any]) -> list[str]:
    n, base, op = run["n"], run["baseline"], run["operator"]
    resync, restart, churn = run["steady"]["resync"], run["steady"]["restart"], run["churn"]
    base_cpu_obj = base["cpu_s"] * 1000 / (2 * n)
    lines = [
        f"### N = {n} pairs ({2 * n} objects, {2 * n} Exchange services)",
        "",
        "| figure | baseline (trivial kopf) | horizon-publisher | ratio / target |",
        "| --- | --- | --- | --- |",
        _row(
            "wall time to all Ready (s)",
            [
                str(base["all_ready_s"]),
                str(op["all_ready_s"]),
                _ratio(op["all_ready_s"], base["all_ready_s"], "≤ 5x" + (", < 10 s" if n == 100 else "")),
            ],
        ),
        _row("objects per second", [str(base["objects_per_s"]), str(op["objects_per_s"]), ""]),
        _row("operator CPU (s)", [str(base["cpu_s"]), str(op["cpu_s"]), ""]),
        _row(
            "CPU per object / per pair (ms)",
            [
                f"{base_cpu_obj:.2f} / object",
                f"{op['cpu_ms_per_pair']} / pair",
                _ratio(op["cpu_ms_per_pair"], base_cpu_obj, "≤ 5x"),
            ],
        ),
        _row(
            "peak RSS (MiB)",
            [
                str(base["peak_rss_mib"]),
                str(op["peak_rss_mib"]),
                _ratio(op["peak_rss_mib"], base["peak_rss_mib"], "≤ 1.5x"),
            ],
        ),
        _row("emulator CPU (s)", [_emulators(base), _emulators(op), ""]),
    ]
    for backend in BACKENDS:
        for kind in ("reads", "writes"):
            lines.append(_row(f"{backend} {kind} per pair", [_per(_requests(base, backend, kind), n),
                              _per(_requests(op, backend, kind), n), ""]))  # fmt: skip
    lines += [
        "",
        f"Steady state (resync {run['resync_s']} s): one interval ({resync['window_s']} s, {resync['reconciles']} "
        f"reconciles) and a restart (resume pass of {restart['reconciles']} reconciles in "
        f"{restart['resume_pass_s']} s).",
        "",
        "| figure | one resync interval | restart + resume pass | target |",
        "| --- | --- | --- | --- |",
    ]
    for backend in BACKENDS:
        lines.append(_row(f"{backend} writes", [str(_requests(resync, backend, "writes")),
                          str(_requests(restart, backend, "writes")), "0"]))  # fmt: skip
    for backend in BACKENDS:
        target = "≤ 2 per pair (1 per service)" if backend == "exchange" else ""
        lines.append(_row(f"{backend} reads per pair", [_per(_requests(resync, backend, "reads"), n),
                          _per(_requests(restart, backend, "reads"), n), target]))  # fmt: skip
    lines.append(_row("operator CPU (s)", [str(resync["cpu_s"]), str(restart["cpu_s"]), ""]))
    lines += [
        "",
        f"Churn: tag bumped on {churn['bumped']} pairs, token rotated on all {churn['rotated']}: republished in "
        f"{churn['republished_s']} s, all Ready in {churn['all_ready_s']} s, verified in the Exchange "
        f"{churn['verified']}/{n} ({churn['verify_s']} s); operator CPU {churn['cpu_s']} s; requests per pair: "
        + ", ".join(
            f"{b} {_per(_requests(churn, b, 'reads'), n)} r / {_per(_requests(churn, b, 'writes'), n)} w"
            for b in BACKENDS
        )
        + ".",
        "",
    ]
    return lines


def _ratio(value: float | None, base: float | None, target: str) -> str:
    if value is None or not base:
        return f"- ({target})"
    return f"{value / base:.2f}x ({target})"


def write_markdown(path: Path, report: dict[str, Any]) -> None:
    m = report["machine"]
    lines = [
        SECTION,
        "",
        f"Measured {m['date']} on {m['machine']} ({m['cpu_model']}), {m['cpus']} cores, Python {m['python']}, "
        "with `scripts/bench.sh` (`tests/bench/scale.py`; JSON in `docs/benchmarks-scale.json`). One sandbox per N; "
        "the operator runs as its ServiceAccount over all namespaces; pairs spread over 10 team namespaces; "
        "OpenShift provider, Rotating tokens (the default), 2 arches, "
        f"one {report['runs'][0]['key_bits']}-bit team signing key. Requests are counted by "
        "the backends (registry: its access log, 401 challenges included). CPU from /proc; peak RSS is VmHWM "
        "reset at the phase's start.",
        "",
    ]
    for run in report["runs"]:
        lines += run_table(run)
    section = "\n".join(lines)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = text.find(SECTION + "\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
