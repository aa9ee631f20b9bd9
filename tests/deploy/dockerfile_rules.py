"""hadolint-style rules for the operator's Dockerfile (no Docker engine here: the image is checked statically).

``parse`` turns a Dockerfile into stages of (INSTRUCTION, arguments); each rule returns the problems it
finds, as text. test_dockerfile.py runs every rule on the real Dockerfile and on a bad example each.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_?KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE)
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|cmake|git|\S+-devel|python3?(\.\d+)?-pip|wheel|setuptools)\b")
# Labels OpenShift's console and Red Hat's container certification read.
OPENSHIFT_LABELS = ("name", "version", "summary", "description", "io.k8s.display-name", "io.k8s.description",
                    "io.openshift.tags", "maintainer", "vendor")  # fmt: skip


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for ins, args in self.instructions if ins == instruction]


def parse(text: str) -> list[Stage]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) > 2 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append((instruction, args.strip()))
    return stages


def base_images_pinned(stages: list[Stage]) -> list[str]:
    names = {s.name for s in stages}
    problems = []
    for stage in stages:
        if stage.image in names:
            continue
        if not DIGEST.search(stage.image):
            problems.append(f"{stage.image}: not pinned by digest")
        tag = stage.image.split("@")[0].rpartition(":")[2] if ":" in stage.image.split("@")[0].split("/")[-1] else ""
        if not tag or tag == "latest":
            problems.append(f"{stage.image}: needs a version tag next to the digest (not latest)")
    return problems


def multi_stage_ubi9_minimal_runtime(stages: list[Stage]) -> list[str]:
    if len(stages) < 2:
        return ["not multi-stage"]
    problems = [f"{s.image}: not a Red Hat UBI 9 image" for s in stages
                if not s.image.startswith("registry.access.redhat.com/ubi9/")]  # fmt: skip
    if "minimal" not in stages[-1].image:
        problems.append(f"runtime {stages[-1].image} is not a minimal image")
    return problems


def user_non_root_and_last(stages: list[Stage]) -> list[str]:
    final = stages[-1].instructions
    users = [i for i, (ins, _) in enumerate(final) if ins == "USER"]
    if not users:
        return ["the final stage sets no USER"]
    user = final[users[-1]][1].split(":")[0]
    problems = [] if user.isdigit() and int(user) != 0 else [f"final USER {user!r} is not a non-root UID"]
    if any(ins == "RUN" for ins, _ in final[users[-1] :]):
        problems.append("RUN after the final USER")
    return problems


def no_add(stages: list[Stage]) -> list[str]:
    return [f"ADD {args}: use COPY (and never fetch URLs at build time)" for s in stages for args in s.all("ADD")]


def no_secrets(stages: list[Stage]) -> list[str]:
    problems = []
    for stage in stages:
        for instruction in ("ENV", "ARG"):
            for args in stage.all(instruction):
                names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)[= ]?", args)
                problems += [f"{instruction} {n}: looks like a secret" for n in names if SECRET_NAME.search(n)]
        for args in stage.all("RUN"):
            if re.search(r"https?://[^/\s]+:[^@\s]+@", args):
                problems.append(f"RUN with credentials: {args[:60]}")
    return problems


def package_caches_cleaned(stages: list[Stage]) -> list[str]:
    problems = []
    for stage in stages:
        for args in stage.all("RUN"):
            for tool in ("microdnf", "dnf", "yum"):
                if re.search(rf"\b{tool}\b.*\binstall\b", args) and not re.search(rf"\b{tool}\b.*\bclean all\b", args):
                    problems.append(f"{tool} install without {tool} clean all in the same RUN")
            if re.search(r"\bpip3?(\.\d+)? install\b|-m pip install\b", args) and "--no-cache-dir" not in args:
                problems.append("pip install without --no-cache-dir")
    return problems


def wheels_only_from_build(stages: list[Stage]) -> list[str]:
    """The runtime takes nothing from the build stage but wheels, and installs nothing from an index."""
    problems = []
    final = stages[-1]
    for args in final.all("COPY"):
        source = re.search(r"--from=(\S+)", args)
        if source and not re.search(r"\S*wheels?\S*\s+\S+$|\.whl\s", args):
            problems.append(f"COPY --from={source.group(1)} of something other than wheels")
    for args in final.all("RUN"):
        for mount in re.findall(r"--mount=(\S+)", args):
            options = dict(o.split("=", 1) for o in mount.split(",") if "=" in o)
            if "from" in options and "wheel" not in options.get("source", ""):
                problems.append(f"RUN --mount from {options['from']} of {options.get('source')}")
        if re.search(r"pip install\b", args) and "--no-index" not in args:
            problems.append("pip install in the runtime stage reaches an index: install the built wheels only")
        if re.search(r"\b(microdnf|dnf|yum)\b.*\binstall\b", args) and BUILD_TOOLS.search(args):
            problems.append(f"build tools installed in the runtime stage: {args[:80]}")
        if re.search(r"pip wheel|setup\.py|python3?\S* -m build\b", args):
            problems.append("building in the runtime stage")
    return problems


def entrypoint_exec_form(stages: list[Stage]) -> list[str]:
    final = stages[-1]
    entry = final.all("ENTRYPOINT")
    if len(entry) != 1:
        return ["the final stage needs exactly one ENTRYPOINT"]
    problems = []
    for instruction in ("ENTRYPOINT", "CMD"):
        for args in final.all(instruction):
            try:
                value = json.loads(args)
            except json.JSONDecodeError:
                value = None
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(f"{instruction} {args}: not in exec (JSON array) form")
    if final.all("CMD") != ["[]"]:
        problems.append("CMD [] missing: the base image's CMD would be appended to the entrypoint")
    return problems


def openshift_labels(stages: list[Stage]) -> list[str]:
    labels = final_labels(stages)
    return [f"LABEL {name} missing in the final stage" for name in OPENSHIFT_LABELS if not labels.get(name)]


def final_labels(stages: list[Stage]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for args in stages[-1].all("LABEL"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            labels[key] = value
    return labels


def exposed_ports(stages: list[Stage]) -> set[int]:
    return {int(p.split("/")[0]) for args in stages[-1].all("EXPOSE") for p in args.split()}


RULES: dict[str, Callable[[list[Stage]], list[str]]] = {
    "base_images_pinned": base_images_pinned,
    "multi_stage_ubi9_minimal_runtime": multi_stage_ubi9_minimal_runtime,
    "user_non_root_and_last": user_non_root_and_last,
    "no_add": no_add,
    "no_secrets": no_secrets,
    "package_caches_cleaned": package_caches_cleaned,
    "wheels_only_from_build": wheels_only_from_build,
    "entrypoint_exec_form": entrypoint_exec_form,
    "openshift_labels": openshift_labels,
}
