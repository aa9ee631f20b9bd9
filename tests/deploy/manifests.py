"""Render the kustomizations under deploy/ and pick objects out of them (shared by the deploy tests,
scripts/make_bundle.py and tests/deploy/measure_resources.py)."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAYS = {"kubernetes": DEPLOY / "overlays" / "kubernetes", "openshift": DEPLOY / "overlays" / "openshift"}
OPERATOR_NAMESPACE = "horizon-publisher-system"
OPERATOR_NAME = "horizon-publisher"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def kustomizations() -> list[Path]:
    """Every directory under deploy/ (and crds/) that kustomize can build on its own (Components cannot)."""
    found = []
    for directory in sorted({p.parent for name in KUSTOMIZATION_FILES for p in DEPLOY.rglob(name)}):
        path = kustomization_file(directory)
        assert path is not None
        if (yaml.safe_load(path.read_text()) or {}).get("kind", "Kustomization") == "Kustomization":
            found.append(directory)
    return [ROOT / "crds", *found]


def render(directory: Path) -> list[JSON]:
    """``kubectl kustomize DIR`` (kubectl's embedded kustomize, offline), parsed; a fresh copy each call."""
    return copy.deepcopy(_render(directory.resolve()))


def relative_to(directory: Path, start: Path) -> str:
    """Kustomize refuses absolute paths to other kustomizations; a relative one may leave the root."""
    return os.path.relpath(directory, start)


@cache
def _render(directory: Path) -> list[JSON]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required (scripts/setup.sh installs it)"
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return [d for d in yaml.safe_load_all(result.stdout) if isinstance(d, dict)]


def find(objects: list[JSON], kind: str, name: str) -> JSON:
    matches = [o for o in objects if o.get("kind") == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


def bound_rules(objects: list[JSON], namespace: str = OPERATOR_NAMESPACE, account: str = OPERATOR_NAME) -> list[JSON]:
    """Every rule of every ClusterRole that a ClusterRoleBinding in ``objects`` gives the operator's account."""
    rules: list[JSON] = []
    for binding in (o for o in objects if o.get("kind") == "ClusterRoleBinding"):
        subjects = binding.get("subjects") or []
        if {"kind": "ServiceAccount", "name": account, "namespace": namespace} in subjects:
            rules += find(objects, "ClusterRole", binding["roleRef"]["name"]).get("rules") or []
    return rules
