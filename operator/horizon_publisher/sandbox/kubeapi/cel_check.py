"""What cel-go refuses when a CRD is created: the compile-time side of ``x-kubernetes-validations``.

``compile_problems(schema)`` parses every rule and ``messageExpression``, then walks the AST with
the schema as its type environment: a field the schema does not declare (``self.spce``), a name
that is neither ``self``/``oldSelf`` nor a macro variable, an unknown function, ``oldSelf`` on a
part of the schema that cannot be correlated with the old object, a bad ``fieldPath`` or
``reason``. Type checking beyond field existence (operand types, a rule not returning bool) and
cost estimation are not done (see Gaps in schema.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lark

from .api import JSON
from .cel import (
    KNOWN_FUNCTIONS,
    MACROS,
    CelCompileError,
    compile_expression,
    escape_property,
    with_resource_meta,
)

REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
_CEL_TYPE_NAMES = {
    "string": "string",
    "integer": "int",
    "number": "double",
    "boolean": "bool",
    "array": "list",
}


@dataclass(frozen=True)
class RuleSite:
    """A schema node that carries rules, where it is, and what its rules may use."""

    schema: JSON
    path: str  # e.g. openAPIV3Schema.properties[spec]
    resource_root: bool
    correlatable: bool  # oldSelf can be bound here (not inside atomic/set lists)


def rule_sites(schema: JSON, path: str = "openAPIV3Schema") -> Iterator[RuleSite]:
    """Every node of a structural schema, with the facts CEL compilation needs."""
    yield from _walk(schema, path, resource_root=True, correlatable=True)


def _walk(schema: JSON, path: str, *, resource_root: bool, correlatable: bool) -> Iterator[RuleSite]:
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    yield RuleSite(schema, path, resource_root or embedded, correlatable)
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            yield from _walk(sub, f"{path}.properties[{name}]", resource_root=False, correlatable=correlatable)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}.additionalProperties", resource_root=False, correlatable=correlatable)
    items = schema.get("items")
    if isinstance(items, dict):
        by_key = schema.get("x-kubernetes-list-type") == "map"
        yield from _walk(items, f"{path}.items", resource_root=False, correlatable=correlatable and by_key)
    for index, sub in enumerate(schema.get("allOf") or []):
        if isinstance(sub, dict) and sub.get("x-kubernetes-validations"):
            yield RuleSite({**schema, **sub}, f"{path}.allOf[{index}]", resource_root or embedded, correlatable)


def compile_problems(schema: JSON) -> list[str]:
    """Why the API server would refuse this schema's validation rules (empty when it accepts them)."""
    problems: list[str] = []
    for site in rule_sites(schema):
        for index, rule in enumerate(site.schema.get("x-kubernetes-validations") or []):
            problems.extend(_rule_problems(site, f"{site.path}.x-kubernetes-validations[{index}]", rule))
    return problems


def _rule_problems(site: RuleSite, where: str, rule: Any) -> list[str]:
    if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str) or not rule["rule"].strip():
        return [f"{where}.rule: Required value: rule is not specified"]
    source: str = rule["rule"]
    optional_old_self = bool(rule.get("optionalOldSelf"))
    problems = [
        f"{where}.rule: Invalid value: {problem}"
        for problem in check_expression(source, site.schema, site.resource_root, optional_old_self)
    ]
    problems += _old_self_problems(site, where, source, optional_old_self)
    problems += _message_problems(site, where, rule)
    reason = rule.get("reason")
    if reason is not None and reason not in REASONS:
        supported = ", ".join(f'"{r}"' for r in REASONS)
        problems.append(f'{where}.reason: Unsupported value: "{reason}": supported values: {supported}')
    field_path = rule.get("fieldPath")
    if field_path is not None:
        try:
            normalize_field_path(field_path, site.schema)
        except ValueError as error:
            problems.append(f"{where}.fieldPath: Invalid value: {error}")
    return problems


def _old_self_problems(site: RuleSite, where: str, source: str, optional_old_self: bool) -> list[str]:
    try:
        uses_old_self = compile_expression(source).uses_old_self
    except CelCompileError:
        return []  # already reported as a compile error
    if uses_old_self and not site.correlatable:
        return [f"{where}.rule: Invalid value: oldSelf cannot be used on the uncorrelatable portion of the schema"]
    if optional_old_self and not uses_old_self:
        return [f"{where}.optionalOldSelf: Invalid value: may not be set if oldSelf is not used in rule"]
    return []


def _message_problems(site: RuleSite, where: str, rule: JSON) -> list[str]:
    message = rule.get("message")
    if message is not None and (not isinstance(message, str) or not message.strip()):
        return [f"{where}.message: Invalid value: must be non-empty if specified"]
    if isinstance(message, str) and "\n" in message:
        return [f"{where}.message: Invalid value: must not contain line breaks"]
    if message is None and "\n" in rule["rule"]:
        return [f"{where}.message: Required value: message must be specified if rule contains line breaks"]
    expression = rule.get("messageExpression")
    if expression is None:
        return []
    if not isinstance(expression, str) or not expression.strip():
        return [f"{where}.messageExpression: Required value: messageExpression must be non-empty"]
    return [
        f"{where}.messageExpression: Invalid value: {problem}"
        for problem in check_expression(expression, site.schema, site.resource_root, False)
    ]


_FIELD_PATH_STEP = re.compile(r"\.([^.\[]+)|\['((?:[^'\\]|\\.)*)'\]")


def normalize_field_path(field_path: Any, schema: JSON) -> str:
    """A rule's ``fieldPath`` (``.spec.a``, ``.labels['x.y']``) as a field path; ValueError if invalid."""
    if not isinstance(field_path, str) or not field_path:
        raise ValueError("must be non-empty if specified")
    if "\n" in field_path:
        raise ValueError("must not contain line breaks")
    parts: list[str] = []
    node: Any = schema
    position = 0
    while position < len(field_path):
        step = _FIELD_PATH_STEP.match(field_path, position)
        if step is None:
            raise ValueError("must be a valid path")
        position = step.end()
        name = step.group(1) if step.group(1) is not None else step.group(2).replace("\\'", "'")
        node, part = _field_path_step(node, name)
        parts.append(part if part.startswith("[") or not parts else f".{part}")
    return "".join(parts)


def _field_path_step(node: Any, name: str) -> tuple[Any, str]:
    """Descend one field (``name``) or map key (``[name]``) into the schema."""
    properties = node.get("properties") if isinstance(node, dict) else None
    extra = node.get("additionalProperties") if isinstance(node, dict) else None
    if isinstance(properties, dict) and properties and name in properties:
        return properties[name], name
    if not properties and isinstance(extra, dict):
        return extra, f"[{name}]"
    raise ValueError("does not refer to a valid field")


class _Optional:
    """The static type of ``oldSelf`` under ``optionalOldSelf``."""

    def __init__(self, schema: JSON) -> None:
        self.schema = schema


_BOOL: JSON = {"type": "boolean"}
_Type = JSON | _Optional | None  # None: dynamic, anything goes


def check_expression(source: str, schema: JSON, resource_root: bool, optional_old_self: bool) -> list[str]:
    """cel-go's compile errors for one expression, in its wording (``ERROR: <input>:1:6: ...``)."""
    try:
        tree = compile_expression(source).ast
    except CelCompileError as error:
        return [str(error)]
    self_schema = with_resource_meta(schema) if resource_root else schema
    old_schema: _Type = _Optional(self_schema) if optional_old_self else self_schema
    checker = _Checker({"self": self_schema, "oldSelf": old_schema})
    checker.infer(tree)
    return [f"compilation failed: ERROR: <input>:{line}:{column}: {text}" for line, column, text in checker.problems]


class _Checker:
    def __init__(self, scope: dict[str, _Type]) -> None:
        self.scopes: list[dict[str, _Type]] = [scope]
        self.problems: list[tuple[int, int, str]] = []

    def problem(self, token: Any, text: str) -> None:
        self.problems.append((getattr(token, "line", 1) or 1, getattr(token, "column", 1) or 1, text))

    def infer(self, node: Any) -> _Type:
        if not isinstance(node, lark.Tree):
            return None
        handler = getattr(self, f"_{node.data}", None)
        if handler is not None:
            result: _Type = handler(node)
            return result
        types = [self.infer(child) for child in node.children]
        # Wrapper nodes (expr -> conditionalor -> ... -> member) pass their only child's type on.
        return types[0] if len(node.children) == 1 else None

    def _ident(self, node: lark.Tree[Any]) -> _Type:
        name = str(node.children[0])
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        self.problem(name, f"undeclared reference to '{name}' (in container '')")
        return None

    def _member_dot(self, node: lark.Tree[Any]) -> _Type:
        target, name = node.children
        return self.select(self.infer(target), name)

    def select(self, target: _Type, name: Any) -> _Type:
        if isinstance(target, _Optional):
            self.problem(name, "type 'optional_type' does not support field selection")
            return None
        if target is None or target.get("x-kubernetes-int-or-string"):
            return None  # dyn: anything may be selected, failures happen at run time
        schema_type = target.get("type")
        properties: JSON = target.get("properties") or {}
        if schema_type == "object" or (schema_type is None and properties):
            return self._select_field(target, properties, name)
        if schema_type is not None:
            cel_type = _CEL_TYPE_NAMES.get(schema_type, schema_type)
            self.problem(name, f"type '{cel_type}' does not support field selection")
        return None

    def _select_field(self, target: JSON, properties: JSON, name: Any) -> _Type:
        for key, sub in properties.items():
            if escape_property(key) == name:
                return sub if isinstance(sub, dict) else None
        extra = target.get("additionalProperties")
        if isinstance(extra, dict):
            return extra
        if extra is not True and (properties or not target.get("x-kubernetes-preserve-unknown-fields")):
            self.problem(name, f"undefined field '{name}'")
        return None

    def _member_index(self, node: lark.Tree[Any]) -> _Type:
        target, index = (self.infer(child) for child in node.children)
        del index
        if isinstance(target, dict):
            items = target.get("items") if target.get("type") == "array" else target.get("additionalProperties")
            return items if isinstance(items, dict) else None
        return None

    def _member_dot_arg(self, node: lark.Tree[Any]) -> _Type:
        target_node, name = node.children[0], node.children[1]
        arguments = list(node.children[2].children) if len(node.children) > 2 else []
        target = self.infer(target_node)
        if name in MACROS and arguments:
            return self._macro(target, name, arguments)
        if isinstance(target, _Optional) and name in ("value", "orValue"):
            for argument in arguments:
                self.infer(argument)
            return target.schema
        if name not in KNOWN_FUNCTIONS:
            self.problem(name, f"undeclared reference to '{name}' (in container '')")
        for argument in arguments:
            self.infer(argument)
        return _BOOL if name in ("hasValue", "startsWith", "endsWith", "matches", "contains") else None

    def _macro(self, target: _Type, name: Any, arguments: list[Any]) -> _Type:
        variable = _simple_name(arguments[0])
        if variable is None:
            self.problem(name, f"{name}() variable name must be a simple identifier")
            return None
        if name == "map" and len(arguments) == 3:
            self.problem(name, "the three-argument map(x, p, f) macro is not supported by cel-python")
        element: _Type = None
        if isinstance(target, dict):
            if target.get("type") == "array":
                items = target.get("items")
                element = items if isinstance(items, dict) else None
            elif target.get("type") == "object":
                element = {"type": "string"}  # macros over maps range over the keys
        self.scopes.append({variable: element})
        try:
            for argument in arguments[1:]:
                self.infer(argument)
        finally:
            self.scopes.pop()
        if name == "filter":
            return target
        return None if name == "map" else _BOOL

    def _ident_arg(self, node: lark.Tree[Any]) -> _Type:
        name = node.children[0]
        arguments = list(node.children[1].children) if len(node.children) > 1 else []
        if name == "has":
            if len(arguments) != 1 or _find_member_dot(arguments[0]) is None:
                self.problem(name, "invalid argument to has() macro")
                return _BOOL
            self.infer(arguments[0])
            return _BOOL
        if name not in KNOWN_FUNCTIONS:
            self.problem(name, f"undeclared reference to '{name}' (in container '')")
        for argument in arguments:
            self.infer(argument)
        return None


def _single_child_chain(node: Any) -> Any:
    """Descend through wrapper nodes (expr -> ... -> member -> primary) to the meaningful one."""
    while isinstance(node, lark.Tree) and len(node.children) == 1 and isinstance(node.children[0], lark.Tree):
        node = node.children[0]
    return node


def _simple_name(node: Any) -> str | None:
    inner = _single_child_chain(node)
    if isinstance(inner, lark.Tree) and inner.data == "ident":
        return str(inner.children[0])
    return None


def _find_member_dot(node: Any) -> lark.Tree[Any] | None:
    inner = _single_child_chain(node)
    return inner if isinstance(inner, lark.Tree) and inner.data == "member_dot" else None
