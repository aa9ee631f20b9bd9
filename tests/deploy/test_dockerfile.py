"""The Dockerfile, checked statically (no Docker engine here): every rule passes on it, every rule
catches a broken variant, and the image agrees with pyproject.toml and the Deployment."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.deploy.dockerfile_rules import RULES, exposed_ports, final_labels, parse
from tests.deploy.manifests import BASE, OVERLAYS, ROOT, find, render

TEXT = (ROOT / "Dockerfile").read_text()
STAGES = parse(TEXT)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME_FROM = next(line for line in TEXT.splitlines() if line.startswith("FROM") and "minimal" in line)
UBI = "registry.access.redhat.com/ubi9"
INSTALL_GCC = "RUN microdnf install -y gcc && microdnf clean all"
BUILD_FROM = next(line for line in TEXT.splitlines() if line.startswith("FROM") and " AS build" in line)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_dockerfile_passes(rule: str) -> None:
    assert RULES[rule](STAGES) == []


# Each rule, fed a Dockerfile with one mistake, must report it.
BROKEN = [
    ("base_images_pinned", lambda t: re.sub(r"@sha256:[0-9a-f]{64}", "", t, count=1)),
    ("base_images_pinned", lambda t: t.replace(RUNTIME_FROM, f"FROM {UBI}/python-312-minimal:latest")),
    ("multi_stage_ubi9_minimal_runtime", lambda t: t[t.index(RUNTIME_FROM):]),
    ("multi_stage_ubi9_minimal_runtime", lambda t: t.replace("python-312-minimal", "python-312")),
    ("multi_stage_ubi9_minimal_runtime", lambda t: t.replace(BUILD_FROM, "FROM docker.io/python:3.12 AS build")),
    ("user_non_root_and_last", lambda t: t.replace("USER 1001\n", "USER 0\n")),
    ("user_non_root_and_last", lambda t: t.replace("USER 1001\n", "USER 1001\nRUN true\n")),
    ("user_non_root_and_last", lambda t: t.replace("USER 1001\n", "")),
    ("no_add", lambda t: t.replace("EXPOSE", "ADD https://example.com/x.tgz /opt/\nEXPOSE")),
    ("no_secrets", lambda t: t.replace("ENV PYTHONDONTWRITEBYTECODE=1", "ENV A_PASSWORD=x PYTHONDONTWRITEBYTECODE=1")),
    ("no_secrets", lambda t: t.replace("EXPOSE", "ARG REGISTRY_TOKEN\nEXPOSE")),
    ("package_caches_cleaned", lambda t: t.replace("USER 0\n", "USER 0\nRUN microdnf install -y shadow-utils\n")),
    ("package_caches_cleaned", lambda t: t.replace("--no-cache-dir --no-index", "--no-index")),
    ("wheels_only_from_build", lambda t: t.replace("USER 0\n", "USER 0\nCOPY --from=build /opt/app-root/src /src\n")),
    ("wheels_only_from_build", lambda t: t.replace("source=/tmp/wheels", "source=/opt/app-root")),
    ("wheels_only_from_build", lambda t: t.replace("--no-index --find-links /tmp/wheels", "--find-links /tmp/wheels")),
    ("wheels_only_from_build", lambda t: t.replace("USER 0\n", f"USER 0\n{INSTALL_GCC}\n")),
    ("entrypoint_exec_form", lambda t: re.sub(r"ENTRYPOINT .*", "ENTRYPOINT horizon-publisher run", t)),
    ("entrypoint_exec_form", lambda t: t.replace("CMD []", "")),
    ("openshift_labels", lambda t: t.replace('io.openshift.tags="open-horizon,edge,operator,registry" \\\n', "")),
    ("openshift_labels", lambda t: t.replace('      vendor="Horizon Publisher authors" \\\n', "")),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "break_it"), BROKEN, ids=[f"{r}-{i}" for i, (r, _) in enumerate(BROKEN)])
def test_rule_catches_the_mistake(rule: str, break_it: object) -> None:
    broken = break_it(TEXT)  # type: ignore[operator]
    assert broken != TEXT, "the mutation did not apply: update the example"
    assert RULES[rule](parse(broken)) != []


def test_labels_carry_the_package_version_and_name() -> None:
    labels = final_labels(STAGES)
    assert labels["version"] == labels["org.opencontainers.image.version"] == PROJECT["version"]
    assert labels["name"] == PROJECT["name"]
    assert labels["org.opencontainers.image.licenses"] == PROJECT["license"]


def test_entrypoint_is_the_packages_console_script_running_the_operator() -> None:
    [entry] = STAGES[-1].all("ENTRYPOINT")
    script, command = entry.strip("[]").replace('"', "").split(", ")
    assert script.rsplit("/", 1)[1] in PROJECT["scripts"]
    assert command == "run"


def test_exposed_ports_are_the_deployments_container_ports() -> None:
    container = find(render(BASE), "Deployment", "horizon-publisher")["spec"]["template"]["spec"]["containers"][0]
    assert exposed_ports(STAGES) == {p["containerPort"] for p in container["ports"]}


def test_image_user_is_the_kubernetes_overlays_uid() -> None:
    [*_, user] = STAGES[-1].all("USER")
    pod = find(render(OVERLAYS["kubernetes"]), "Deployment", "horizon-publisher")["spec"]["template"]["spec"]
    assert int(user) == pod["securityContext"]["runAsUser"]


def test_build_and_runtime_share_one_python_so_the_wheels_fit() -> None:
    """Wheels with C extensions (PyYAML, cryptography's Rust) are built for one CPython minor version."""
    versions = {re.search(r"python-(\d{3})", s.image).group(1) for s in STAGES}  # type: ignore[union-attr]
    assert len(versions) == 1
    (version,) = versions
    assert set(re.findall(r"python(\d\.\d+) -m", TEXT)) == {f"{version[0]}.{version[1:]}"}
    required = tuple(int(x) for x in PROJECT["requires-python"].removeprefix(">=").split("."))
    assert (int(version[0]), int(version[1:])) >= required


def test_build_context_paths_exist() -> None:
    for args in STAGES[0].all("COPY"):
        for source in args.split()[1:-1]:
            if not source.startswith("--"):
                assert (ROOT / source).exists(), source


def test_nothing_in_the_image_is_writable_only_tmp_is() -> None:
    """HOME points at /tmp, the one writable place (an emptyDir under readOnlyRootFilesystem)."""
    assert re.search(r"\bHOME=/tmp\b", " ".join(STAGES[-1].all("ENV")))
    pod = find(render(BASE), "Deployment", "horizon-publisher")["spec"]["template"]["spec"]
    assert [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]] == ["/tmp"]  # noqa: S108  (the emptyDir)
