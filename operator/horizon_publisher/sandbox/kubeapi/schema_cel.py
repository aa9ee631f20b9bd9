"""Running ``x-kubernetes-validations`` over an object, as the API server's CEL validator does.

Rules run at every node the object has (absent and null nodes are skipped), with ``self`` the
node and, for transition rules, ``oldSelf`` its correlated old value: map entries correlate by
key, list items only in ``x-kubernetes-list-type: map`` lists (by their keys). A transition rule
runs only on update where the old value exists, unless ``optionalOldSelf`` is set (then
``oldSelf`` is an optional). On update, a failing non-transition rule on a node equal to its old
value is not an error (ratcheting; the real server sends a warning instead).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from celpy import celtypes

from .api import JSON
from .cel import CelCompileError, CelEvalError, Memo, compile_expression, evaluate, optional_of, to_cel
from .cel_check import normalize_field_path
from .schema_errors import (
    DUPLICATE,
    FORBIDDEN,
    NIL_PATH,
    OMIT,
    REQUIRED,
    FieldError,
    duplicate,
    forbidden,
    invalid,
    required,
)
from .schema_values import MISSING, correlate_list_items, json_equal

_MAX_MESSAGE_BYTES = 5 * 1024
_IMMUTABLE = frozenset({"self == oldSelf", "oldSelf == self"})  # celconfig.MaxEvaluatedMessageExpressionSizeBytes


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class RuleRunner:
    """One pass of every rule in a schema over one object (and its old version on update)."""

    def __init__(self, update: bool) -> None:
        self.update = update
        self.errors: list[FieldError] = []
        self.memo: Memo = {}  # CEL values of the object's parts, shared by all rules of this pass

    def node(self, schema: JSON, value: Any, old: Any, path: str, *, root: bool, unchanged: bool) -> None:
        if value is None:
            return  # only non-null values are validated; the parent's rules see the null
        has_old = old is not MISSING and old is not None
        if has_old:
            unchanged = json_equal(value, old)
        if self.update and unchanged and not _has_transition_rules(schema):
            return  # every failure below would be ratcheted away: skip the work (status and metadata writes)
        rule_schemas = [schema] + [s for s in schema.get("allOf") or [] if isinstance(s, dict)]
        for rule_schema in rule_schemas:
            for rule in rule_schema.get("x-kubernetes-validations") or []:
                if isinstance(rule, dict) and isinstance(rule.get("rule"), str):
                    self._run(
                        rule, schema, value, old if has_old else MISSING, path=path, root=root, unchanged=unchanged
                    )
        self._descend(schema, value, old, path, unchanged=unchanged)

    def _descend(self, schema: JSON, value: Any, old: Any, path: str, *, unchanged: bool) -> None:
        if isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, dict):
                old_items = correlate_list_items(schema, value, old)
                for index, item in enumerate(value):
                    self.node(items, item, old_items[index], f"{path}[{index}]", root=False, unchanged=unchanged)
        elif isinstance(value, dict):
            old_map = old if isinstance(old, dict) else {}
            extra = schema.get("additionalProperties")
            properties: JSON = schema.get("properties") or {}
            for key, item in value.items():
                old_item = old_map.get(key, MISSING)
                if isinstance(extra, dict):
                    self.node(extra, item, old_item, f"{path}[{key}]", root=False, unchanged=unchanged)
                sub = properties.get(key)
                if isinstance(sub, dict):
                    self.node(sub, item, old_item, _child(path, key), root=False, unchanged=unchanged)

    def _run(self, rule: JSON, schema: JSON, value: Any, old: Any, *, path: str, root: bool, unchanged: bool) -> None:  # noqa: PLR0911
        source: str = rule["rule"]
        schema_type = schema.get("type") or ""
        field = path or NIL_PATH
        try:
            compiled = compile_expression(source)
        except CelCompileError as error:
            self.errors.append(invalid(field, schema_type, f"rule compile error: {error}"))
            return
        optional_old_self = bool(rule.get("optionalOldSelf"))
        if not self._needs_run(compiled, old, unchanged=unchanged, optional_old_self=optional_old_self):
            return
        embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
        passed_key = _passed_key(compiled, schema, value, old, optional_old_self=optional_old_self, embedded=embedded)
        if passed_key is not None and passed_key in _PASSED:
            return  # this rule already held for exactly these values (rules are pure functions of them)
        try:
            self_value = to_cel(value, schema, resource_root=embedded, memo=self.memo, only=compiled.self_fields)
            old_value = None if old is MISSING else to_cel(old, schema, resource_root=embedded, memo=self.memo)
        except (ValueError, OverflowError) as error:
            # e.g. an integer beyond int64, which CEL cannot represent: report, never crash
            self.errors.append(invalid(field, schema_type, f"rule not evaluated: {error}"))
            return
        variables: dict[str, Any] = {"self": self_value}
        if compiled.uses_old_self:
            variables["oldSelf"] = optional_of(old_value) if optional_old_self else old_value
        label = _rule_label(rule)
        try:
            result = evaluate(compiled, variables)
        except CelEvalError as error:
            self.errors.append(invalid(field, schema_type, _evaluation_error(str(error), label)))
            return
        if isinstance(result, celtypes.BoolType) and bool(result):
            if passed_key is not None:
                _remember_passed(passed_key)
            return
        if not isinstance(result, celtypes.BoolType):
            self.errors.append(invalid(field, schema_type, f"rule did not evaluate to a bool: {label}"))
            return
        if rule.get("messageExpression") and compiled.self_fields is not None:
            # the rule read only some fields; its message may read others
            variables["self"] = to_cel(value, schema, resource_root=embedded, memo=self.memo)
        detail = self._message(rule, variables | ({"oldSelf": old_value} if compiled.uses_old_self else {}))
        error_field = field
        if isinstance(rule.get("fieldPath"), str):
            # A bad fieldPath is refused at CRD creation; keep the node's own path then.
            with contextlib.suppress(ValueError):
                error_field = _child(path, normalize_field_path(rule["fieldPath"], schema))
        shown = OMIT if schema_type in ("object", "array") else value
        self.errors.append(_error_for_reason(rule.get("reason"), error_field, shown, detail))

    def _needs_run(self, compiled: Any, old: Any, *, unchanged: bool, optional_old_self: bool) -> bool:
        if self.update and unchanged and (not compiled.uses_old_self or compiled.source.strip() in _IMMUTABLE):
            # ratcheted (the real server only warns about an unchanged invalid value), or an
            # immutability rule on an unchanged value, which holds by definition
            return False
        # transition rules need an old value to compare with
        return not (compiled.uses_old_self and old is MISSING and not optional_old_self)

    @staticmethod
    def _message(rule: JSON, variables: dict[str, Any]) -> str:
        expression = rule.get("messageExpression")
        if isinstance(expression, str) and expression.strip():
            try:
                message = evaluate(compile_expression(expression), variables)
            except (CelCompileError, CelEvalError):
                message = None  # the real server logs it and falls back to message
            if isinstance(message, str):
                text = message.strip()
                if text and "\n" not in text and len(text.encode()) <= _MAX_MESSAGE_BYTES:
                    return text
        message = rule.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()
        return f"failed rule: {str(rule['rule']).strip()}"


# Rules that held, by (rule, schema node, the exact values read): thousands of objects share spec
# shapes, and every status or metadata write re-runs the root's rules on unchanged values.
_PASSED: dict[tuple[Any, ...], None] = {}
_PASSED_LIMIT = 20_000
_SCHEMAS: dict[int, JSON] = {}  # keeps each keyed schema alive, so its id is never reused


def _fingerprint(value: Any, only: frozenset[str] | None) -> str | None:
    if only is not None and isinstance(value, dict):
        value = {k: v for k, v in value.items() if k in only}
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def _passed_key(
    compiled: Any, schema: JSON, value: Any, old: Any, *, optional_old_self: bool, embedded: bool
) -> tuple[Any, ...] | None:
    own = _fingerprint(value, compiled.self_fields)
    previous = _fingerprint(None if old is MISSING else old, None) if compiled.uses_old_self else ""
    if own is None or previous is None:
        return None
    _SCHEMAS.setdefault(id(schema), schema)
    return (compiled.source, id(schema), embedded, optional_old_self, old is MISSING, own, previous)


def _remember_passed(key: tuple[Any, ...]) -> None:
    if len(_PASSED) >= _PASSED_LIMIT:
        _PASSED.pop(next(iter(_PASSED)))  # oldest first: dicts keep insertion order
    _PASSED[key] = None


_TRANSITION_MEMO: dict[int, tuple[JSON, bool]] = {}


def _has_transition_rules(schema: JSON) -> bool:
    """Whether any rule at or below this schema node reads ``oldSelf`` (memoized per schema object)."""
    cached = _TRANSITION_MEMO.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found = any(_is_transition(rule) for rule in _rules_of(schema)) or any(
        _has_transition_rules(child) for child in _children(schema)
    )
    _TRANSITION_MEMO[id(schema)] = (schema, found)  # the schema is kept alive, so its id stays unique
    return found


def _rules_of(schema: JSON) -> list[JSON]:
    schemas = [schema] + [s for s in schema.get("allOf") or [] if isinstance(s, dict)]
    return [r for s in schemas for r in s.get("x-kubernetes-validations") or [] if isinstance(r, dict)]


def _is_transition(rule: JSON) -> bool:
    source = rule.get("rule")
    if not isinstance(source, str):
        return False
    try:
        return compile_expression(source).uses_old_self
    except CelCompileError:
        return False


def _children(schema: JSON) -> list[JSON]:
    children = [c for c in (schema.get("properties") or {}).values() if isinstance(c, dict)]
    children += [c for c in (schema.get("items"), schema.get("additionalProperties")) if isinstance(c, dict)]
    return children


def _evaluation_error(text: str, label: str) -> str:
    if text == "no such overload":
        return (
            f"'{text}': call arguments did not match a supported operator, function or macro "
            f"signature for rule: {label}"
        )
    return f"{text} evaluating rule: {label}"


def _rule_label(rule: JSON) -> str:
    message = rule.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    return str(rule["rule"]).strip()


def _error_for_reason(reason: Any, field: str, value: Any, detail: str) -> FieldError:
    if reason == FORBIDDEN:
        return forbidden(field, detail)
    if reason == REQUIRED:
        return required(field, detail)
    if reason == DUPLICATE:
        return duplicate(field, value)
    return invalid(field, value, detail)


def rule_errors(schema: JSON, obj: JSON, old: JSON | None) -> list[FieldError]:
    """Every failing ``x-kubernetes-validations`` rule of ``obj`` (``old`` on update)."""
    runner = RuleRunner(update=old is not None)
    runner.node(schema, obj, MISSING if old is None else old, "", root=True, unchanged=False)
    return runner.errors
