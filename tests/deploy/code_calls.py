"""Find the operator's Kubernetes API calls in its source (``ast``), and what RBAC each needs.

A call is ``<something ending in kube>.<Kube method>(...)`` in operator/horizon_publisher/ outside the
sandbox. Its first argument names the Resource; a constant third argument (``get``/``merge_patch``/
``delete``/``replace``) names the one object it touches, so a rule may be restricted to that name.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from horizon_publisher.clients.kube import Kube, Resource

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "horizon_publisher"
NAMED_METHODS = {"get", "merge_patch", "replace", "delete"}  # (resource, namespace, name, ...)


@dataclass(frozen=True)
class Call:
    function: str  # module path relative to the package, ":", enclosing function
    method: str
    argument: str  # the first argument as written (ast.unparse)
    name: str | None  # the object's name when it is a constant, else None (any name)


@dataclass(frozen=True, order=True)
class Need:
    verb: str
    group: str
    resource: str
    name: str | None = None  # None: any name


def kube_methods() -> set[str]:
    # Constructors of a face, not API calls: from_environment, for_one_pass (the same client, one pass's reads).
    return {n for n in vars(Kube) if not n.startswith("_") and callable(getattr(Kube, n))} - {
        "from_environment",
        "for_one_pass",
    }


def source_files() -> list[Path]:
    # __main__ is excluded: importing it runs the CLI (it holds no API call).
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "sandbox" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"
    )


def module_name(path: Path) -> str:
    return "horizon_publisher." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def _receiver_is_kube(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "kube") or (
        isinstance(node, ast.Attribute) and node.attr == "kube"
    )


def _constant_name(module: object, node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and isinstance(getattr(module, node.id, None), str):
        return str(getattr(module, node.id))
    return None


def calls_in(path: Path) -> list[Call]:
    tree = ast.parse(path.read_text())
    module = importlib.import_module(module_name(path))
    methods = kube_methods()
    found: list[Call] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in methods
                and _receiver_is_kube(child.func.value)
            ):
                name_arg = child.args[2] if child.func.attr in NAMED_METHODS and len(child.args) > 2 else None
                found.append(Call(
                    f"{path.relative_to(PACKAGE)}:{function}",
                    child.func.attr,
                    ast.unparse(child.args[0]) if child.args else "",
                    _constant_name(module, name_arg),
                ))  # fmt: skip
            visit(child, inner)

    visit(tree, "<module>")
    return found


@cache
def all_calls() -> tuple[Call, ...]:
    return tuple(call for path in source_files() for call in calls_in(path))


def grep_count() -> int:
    """The same calls found by a plain regex, so an AST blind spot shows up as a count mismatch."""
    pattern = re.compile(r"\bkube\.(" + "|".join(sorted(kube_methods())) + r")\(")
    return sum(len(pattern.findall(p.read_text())) for p in source_files())


@cache
def resource_constants() -> dict[str, Resource]:
    """Every module-level Resource constant the scanned modules can see, by name."""
    constants: dict[str, Resource] = {}
    for path in source_files():
        module = importlib.import_module(module_name(path))
        constants.update({k: v for k, v in vars(module).items() if isinstance(v, Resource)})
    return constants


def imported_resources(path: Path) -> set[str]:
    module = importlib.import_module(module_name(path))
    return {k for k, v in vars(module).items() if isinstance(v, Resource)}
