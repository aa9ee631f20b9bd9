"""CEL for CRD ``x-kubernetes-validations``: compile once, evaluate many times, on cel-python.

Rules are parsed and transpiled to Python once per source text (``compile_expression`` is
cached), then evaluated with ``self`` (and ``oldSelf``) bound to CEL values converted from JSON
by the node's schema, as the API server does: ``integer`` -> int, ``number`` -> double,
``format: byte`` -> bytes, ``date``/``date-time`` -> timestamp, ``duration`` -> duration, objects
-> maps whose property names are escaped as Kubernetes escapes them (``foo-bar`` ->
``foo__dash__bar``), and at a resource root ``metadata`` holds only ``name``/``generateName``.
Static checks that cel-go does at CRD creation (undefined fields, unknown names) live in
``cel_check.py``; the function library in ``cel_functions.py``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import types
from dataclasses import dataclass
from typing import Any

import celpy
import celpy.evaluation
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import CELEvalError, TranspilerTree

from .api import JSON
from .cel_functions import LIBRARY, LIST_MIN_NAME, OptionalValue

# The transpiled code calls functions as ``<module>.<name>`` inside celpy.evaluation's globals;
# this namespace is how our library is reachable from there.
_NAMESPACE = "horizon_publisher_k8s_cel_library"


def _install_library() -> dict[str, Any]:
    namespace = types.SimpleNamespace()
    bound: dict[str, Any] = {}
    for name, function in LIBRARY.items():
        clone = types.FunctionType(
            function.__code__, function.__globals__, name, function.__defaults__, function.__closure__
        )
        clone.__module__ = _NAMESPACE
        clone.__qualname__ = name
        setattr(namespace, name, clone)
        bound[name] = clone
    celpy.evaluation.__dict__[_NAMESPACE] = namespace
    return bound


def _environment() -> celpy.Environment:
    # cel-python keeps one parser per process; the transpiler needs it to build TranspilerTrees
    # (which the interpreter accepts too, so resetting a foreign parser harms nobody).
    parser = CELParser.CEL_PARSER
    if parser is not None and parser.options.tree_class is not TranspilerTree:
        CELParser.CEL_PARSER = None
    return celpy.Environment(runner_class=celpy.CompiledRunner)


# cel-python logs every failing rule at ERROR level; here a failing rule is a field error.
logging.getLogger("celpy.Transpiler").setLevel(logging.CRITICAL)
FUNCTIONS = _install_library()
_ENV = _environment()
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
KNOWN_FUNCTIONS = frozenset(celpy.evaluation.base_functions) | frozenset(FUNCTIONS) | {"has", "dyn", "min"}


class CelCompileError(ValueError):
    """A rule that cel-go would refuse at CRD creation."""


class CelEvalError(Exception):
    """A rule that failed at run time; the message reads like cel-go's."""


@dataclass(frozen=True)
class CompiledExpression:
    source: str
    ast: lark.Tree[Any]
    runner: celpy.Runner
    uses_old_self: bool
    # The top-level fields of ``self`` the rule reads, when it only ever reads ``self.<field>...``;
    # None when it uses ``self`` whole (``self == oldSelf``, ``size(self)``). Lets a rule on a big
    # object convert only what it reads.
    self_fields: frozenset[str] | None = None


def parse(source: str) -> lark.Tree[Any]:
    try:
        tree = _ENV.compile(source)
    except CELParseError as error:
        where = f"{error.line or 1}:{error.column or 1}"
        first_line = str(error.args[0]).splitlines()[0] if error.args else ""
        raise CelCompileError(f"compilation failed: ERROR: <input>:{where}: Syntax error: {first_line}") from None
    _rewrite_list_min(tree)
    return tree


def _rewrite_list_min(tree: lark.Tree[Any]) -> None:
    """cel-python parses ``list.min()`` as a macro it cannot transpile: call a function instead."""
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and len(node.children) == 2 and node.children[1] == "min":
            token = node.children[1]
            assert isinstance(token, lark.Token)
            node.children[1] = token.update(value=LIST_MIN_NAME)


def uses_identifier(tree: lark.Tree[Any], name: str) -> bool:
    return any(node.data == "ident" and node.children and node.children[0] == name for node in tree.iter_subtrees())


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> CompiledExpression:
    """Parse and transpile once per distinct source text."""
    tree = parse(source)
    try:
        runner = _ENV.program(tree, functions=FUNCTIONS)
    except Exception as error:  # cel-python refuses some constructs only at transpile time
        raise CelCompileError(f"compilation failed: ERROR: <input>:1:1: {error}") from None
    _fix_has_macro(runner)
    return CompiledExpression(source, tree, runner, uses_identifier(tree, "oldSelf"), _self_fields(source))


_SELF_MEMBER = re.compile(r"\bself\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
# ``self`` alone, or a method or macro called on it (``self.all(...)``, ``self.size()``)
_BARE_SELF = re.compile(r"\bself\b(?!\s*\.\s*[A-Za-z_][A-Za-z0-9_]*\b(?!\s*\())")


def _self_fields(source: str) -> frozenset[str] | None:
    """Conservative: any ``self`` not followed by ``.field`` (even inside a string) means "all of it"."""
    if _BARE_SELF.search(source):
        return None
    return frozenset(_SELF_MEMBER.findall(source))


_HAS_MACRO_LINE = re.compile(r"^(ex_\d+ = lambda activation: )(not isinstance\(.*\))$", re.MULTILINE)


def _fix_has_macro(runner: celpy.Runner) -> None:
    """cel-python 0.5 transpiles ``has()`` to a Python bool, which ``||``, ``!`` and ``?:`` reject."""
    transpiler = getattr(runner, "tp", None)
    if transpiler is None:
        return
    fixed = _HAS_MACRO_LINE.sub(r"\1celpy.celtypes.BoolType(\2)", transpiler.source_text)
    if fixed != transpiler.source_text:
        transpiler.source_text = fixed
        transpiler.executable_code = compile(fixed, "<string>", "exec")


def evaluate(expression: CompiledExpression, variables: dict[str, Any]) -> Any:
    """Run a compiled expression; any failure becomes a CelEvalError, never a crash."""
    try:
        result = expression.runner.evaluate(variables)
    except CELEvalError as error:
        raise CelEvalError(describe_error(error)) from None
    except RecursionError:
        raise CelEvalError("expression too deeply nested") from None
    except Exception as error:
        raise CelEvalError(f"internal error: {type(error).__name__}: {error}") from None
    if isinstance(result, CELEvalError):
        raise CelEvalError(describe_error(result))
    return result


_KEY_IN_MESSAGE = re.compile(r"^no such member in mapping: '(.*)'$")


def describe_error(error: CELEvalError) -> str:
    """cel-python's nested error tuples, worded as cel-go words the same failure."""
    message: Any = error.args[0] if error.args else "evaluation error"
    kind: Any = error.args[1] if len(error.args) > 1 else None
    detail: Any = error.args[2] if len(error.args) > 2 else ()
    while kind is CELEvalError and isinstance(detail, tuple) and detail:
        message, kind, detail = (*detail, None, ())[:3]
    detail = detail if isinstance(detail, tuple) else ()
    key_match = _KEY_IN_MESSAGE.match(str(message))
    if kind is KeyError or key_match:
        key = key_match.group(1) if key_match else (detail[0] if detail else "")
        return f"no such key: {key}"
    if kind is IndexError and detail and isinstance(detail[0], int):
        return f"index out of bounds: {detail[0]}"
    if kind is ValueError and detail and isinstance(detail[0], str):
        return str(detail[0])
    if str(message).startswith("no such overload"):
        return "no such overload"
    return _ERROR_WORDS.get(kind, str(message))


_ERROR_WORDS: dict[Any, str] = {
    ZeroDivisionError: "division by zero",
    IndexError: "index out of bounds",
    OverflowError: "integer overflow",
    TypeError: "no such overload",
    AttributeError: "no such overload",
}


# --- JSON -> CEL by schema --------------------------------------------------------------------

_RESERVED = frozenset(
    [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ]
)
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPES = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


@functools.lru_cache(maxsize=4096)
def escape_property(name: str) -> str | None:
    """The name a property has in CEL (Kubernetes ``cel.Escape``), None if it has none."""
    if name in _RESERVED:
        return f"__{name}__"
    if _PLAIN_NAME.match(name) and "__" not in name:
        return name
    escaped = name
    for raw, replacement in _ESCAPES:
        escaped = escaped.replace(raw, replacement)
    return escaped if _PLAIN_NAME.match(escaped) else None


RESOURCE_META_PROPERTIES: JSON = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "generateName": {"type": "string"}},
    },
}


def with_resource_meta(schema: JSON) -> JSON:
    """What a resource root (or embedded resource) looks like to CEL."""
    properties = dict(schema.get("properties") or {})
    properties.update(RESOURCE_META_PROPERTIES)
    return {**schema, "type": "object", "properties": properties}


def _string_value(text: str, schema_format: str | None) -> Any:
    try:
        if schema_format == "byte":
            return celtypes.BytesType(base64.b64decode(text, validate=True))
        if schema_format in ("date-time", "date"):
            return celtypes.TimestampType(text if schema_format == "date-time" else f"{text}T00:00:00Z")
        if schema_format == "duration":
            return celtypes.DurationType(text)
    except (ValueError, TypeError, binascii.Error):
        pass  # schema validation reports the bad format; CEL sees the plain string
    return celtypes.StringType(text)


Memo = dict[tuple[int, int, bool], Any]


def to_cel(
    value: Any,
    schema: JSON | None,
    *,
    resource_root: bool = False,
    memo: Memo | None = None,
    only: frozenset[str] | None = None,
) -> Any:
    """Convert a JSON value to CEL, typed by its schema (unknown parts converted as plain JSON).

    ``memo`` shares conversions between the rules of one validation pass: the object must not
    change while the memo is in use. ``only``: for an object, convert just these (CEL-escaped)
    fields, the ones a rule reads.
    """
    if value is None:
        return None
    if only is not None and isinstance(value, dict) and schema is not None:
        typed = with_resource_meta(schema) if resource_root or schema.get("x-kubernetes-embedded-resource") else schema
        return _object_to_cel(value, typed, memo, only)
    if schema is None:
        return json_to_cel(value)
    if not isinstance(value, (dict, list)):
        return _scalar_to_cel(value, schema)
    key = (id(value), id(schema), resource_root)
    if memo is not None and key in memo:
        return memo[key]
    typed = with_resource_meta(schema) if resource_root or schema.get("x-kubernetes-embedded-resource") else schema
    if isinstance(value, dict):
        result: Any = _object_to_cel(value, typed, memo)
    else:
        items = typed.get("items")
        item_schema = items if isinstance(items, dict) else None
        result = celtypes.ListType([to_cel(v, item_schema, memo=memo) for v in value])
    if memo is not None:
        memo[key] = result
    return result


def _scalar_to_cel(value: Any, schema: JSON) -> Any:
    if isinstance(value, str):
        return _string_value(value, schema.get("format"))
    return _number_to_cel(value, schema.get("type"))


def _number_to_cel(value: Any, schema_type: Any) -> Any:
    """JSON has one number type; CEL has int and double, chosen by the schema."""
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, float) and schema_type == "integer" and value.is_integer():
        return celtypes.IntType(int(value))
    if isinstance(value, int) and schema_type == "number":
        return celtypes.DoubleType(float(value))
    return json_to_cel(value)


def _object_to_cel(
    value: JSON, schema: JSON, memo: Memo | None, only: frozenset[str] | None = None
) -> celtypes.MapType:
    properties: JSON = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    extra_schema = extra if isinstance(extra, dict) else None
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if key in properties:
            name = escape_property(key)
            if name is not None and (only is None or name in only):
                out[celtypes.StringType(name)] = to_cel(item, properties[key], memo=memo)
        elif (extra is not None or schema.get("x-kubernetes-preserve-unknown-fields") or not properties) and (
            only is None or key in only
        ):
            out[celtypes.StringType(key)] = to_cel(item, extra_schema, memo=memo)
        # else: a field the schema does not declare (metadata.labels at a resource root) is
        # invisible to CEL, as in cel-go where the declared type has no such field
    return celtypes.MapType(out)


def optional_of(value: Any) -> OptionalValue:
    return OptionalValue(value)
