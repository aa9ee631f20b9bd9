"""The Tekton example (deploy/examples/tekton/) read as Tekton reads it, and its step scripts run as Tekton runs
them, on this machine.

- :func:`documents`: every manifest of the example, by kind and name.
- :func:`references`: the ``$(params.X)``, ``$(workspaces.X.path)``, ``$(results.X.path)``, ``$(tasks.T.results.R)``
  variables a text uses.
- :func:`run_step`: one step's ``script`` with Tekton's variable substitution (params with their defaults,
  workspace and result paths), its ``env`` and its volume mounts mapped to local directories, executed through
  its ``#!`` line as the entrypoint does.

Gaps (against a real TaskRun): the step runs on this machine, not in its image, so the tools it calls must be
installed here (``oc`` is a shim to kubectl, which the test puts first on PATH); workspaces, results and volumes
are plain directories; ``$(context.*)``, array and object params, step templates, sidecars, ``when``
expressions and ``computeResources`` are not handled; a volume mount path is mapped only where it appears at the
start of an env value (the example's scripts read mount paths through env only).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "tekton"
JSON = dict[str, Any]
VARIABLE = re.compile(r"\$\((params|workspaces|results|tasks|context)\.([A-Za-z0-9_.-]+)\)")


def documents() -> dict[tuple[str, str], JSON]:
    """(kind, metadata.name or generateName) -> manifest, for every YAML document of the example."""
    found: dict[tuple[str, str], JSON] = {}
    for path in sorted(EXAMPLE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            metadata = doc["metadata"]
            key = (doc["kind"], metadata.get("name") or metadata["generateName"])
            assert key not in found, f"{path.name}: {key} twice"
            found[key] = doc
    return found


def references(text: str) -> set[tuple[str, str]]:
    """(scope, rest) of each ``$(scope.rest)``: ("params", "IMAGE"), ("results", "DIGESTS.path"), ..."""
    return {(scope, rest) for scope, rest in VARIABLE.findall(text)}


def step_texts(step: Mapping[str, Any]) -> list[str]:
    """Every string of a step where Tekton substitutes variables."""
    texts = [str(step.get(key, "")) for key in ("image", "script", "workingDir")]
    texts += [str(item.get("value", "")) for item in step.get("env", [])]
    texts += [str(arg) for key in ("args", "command") for arg in step.get(key, [])]
    return texts


@dataclass
class StepContext:
    """Where a TaskRun's pieces live on this machine."""

    params: dict[str, str]
    workspaces: dict[str, Path]
    results: Path
    volumes: dict[str, Path] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # added to the environment (PATH, KUBECONFIG, ...)


def substitute(task: Mapping[str, Any], text: str, context: StepContext) -> str:
    defaults = {p["name"]: str(p["default"]) for p in task["spec"].get("params", []) if "default" in p}
    params = {**defaults, **context.params}

    def value(match: re.Match[str]) -> str:
        scope, rest = match[1], match[2]
        if scope == "params":
            return params[rest]
        if scope == "workspaces" and rest.endswith(".path"):
            return str(context.workspaces[rest.removesuffix(".path")])
        if scope == "results" and rest.endswith(".path"):
            return str(context.results / rest.removesuffix(".path"))
        raise AssertionError(f"$({scope}.{rest}) is not handled here")

    return VARIABLE.sub(value, text)


def run_step(
    task: Mapping[str, Any], step_name: str, context: StepContext, scratch: Path, timeout: float = 90.0
) -> subprocess.CompletedProcess[str]:
    """Run one step's script; raise with its output when it exits non-zero."""
    [step] = [s for s in task["spec"]["steps"] if s["name"] == step_name]
    script = substitute(task, step["script"], context)
    assert script.startswith("#!"), f"{step_name}: the entrypoint runs scripts through their #! line"
    path = scratch / f"{task['metadata']['name']}-{step_name}"
    path.write_text(script)
    path.chmod(0o700)
    mounts = {m["mountPath"]: context.volumes[m["name"]] for m in step.get("volumeMounts", [])}
    env = dict(os.environ) | context.env
    for item in step.get("env", []):
        value = substitute(task, str(item["value"]), context)
        for mount_path, local in mounts.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(local) + value[len(mount_path) :]
        env[item["name"]] = value
    context.results.mkdir(parents=True, exist_ok=True)
    cwd = substitute(task, step["workingDir"], context) if "workingDir" in step else None
    result = subprocess.run(
        [str(path)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"step {step_name} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
