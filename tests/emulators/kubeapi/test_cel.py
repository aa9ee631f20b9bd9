"""CEL for CRD rules (sandbox/kubeapi/cel.py, cel_check.py, cel_functions.py): typing, library, errors."""

from __future__ import annotations

from typing import Any

import pytest
from celpy import celtypes

from horizon_publisher.sandbox.kubeapi.cel import (
    CelCompileError,
    CelEvalError,
    compile_expression,
    escape_property,
    evaluate,
    optional_of,
    to_cel,
)
from horizon_publisher.sandbox.kubeapi.cel_check import check_expression, compile_problems
from horizon_publisher.sandbox.kubeapi.schema import validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "i": {"type": "integer"},
        "d": {"type": "number"},
        "s": {"type": "string"},
        "b": {"type": "boolean"},
        "ts": {"type": "string", "format": "date-time"},
        "dur": {"type": "string", "format": "duration"},
        "raw": {"type": "string", "format": "byte"},
        "io": {"x-kubernetes-int-or-string": True},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nums": {"type": "array", "items": {"type": "integer"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "foo-bar": {"type": "string"},
        "namespace": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    },
}
VALUE: dict[str, Any] = {
    "i": 3,
    "d": 2,
    "s": "Hello, World",
    "b": True,
    "ts": "2024-05-06T07:08:09Z",
    "dur": "90s",
    "raw": "aGk=",
    "io": "80%",
    "tags": ["b", "a", "c"],
    "nums": [1, 2, 3],
    "labels": {"app": "x", "tier": "web"},
    "foo-bar": "dashed",
    "namespace": "kw",
    "items": [{"n": 1}, {"n": 2}],
}


def run(rule: str, value: Any = None, schema: dict[str, Any] | None = None, old: Any = None) -> Any:
    variables: dict[str, Any] = {"self": to_cel(VALUE if value is None else value, schema or SCHEMA)}
    if old is not None:
        variables["oldSelf"] = old
    return evaluate(compile_expression(rule), variables)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # typing by schema
        ("type(self.i) == int && type(self.d) == double", True),
        ("self.d == 2.0", True),
        ("self.ts < timestamp('2025-01-01T00:00:00Z')", True),
        ("self.dur == duration('1m30s')", True),
        ("self.raw == b'hi'", True),
        ("self.io == '80%'", True),
        ("self.foo__dash__bar == 'dashed'", True),
        ("self.__namespace__ == 'kw'", True),
        # core language
        ("size(self.tags) == 3 && self.tags.size() == 3", True),
        ("has(self.s) && !has(self.zz)", True),
        ("(has(self.s) ? 1 : 0) + (has(self.zz) ? 1 : 0) == 1", True),
        ("'a' in self.tags && 'app' in self.labels", True),
        ("self.tags.all(t, t.size() == 1)", True),
        ("self.tags.exists(t, t == 'c')", True),
        ("self.tags.exists_one(t, t == 'a')", True),
        ("self.nums.map(n, n * 2) == [2, 4, 6]", True),
        ("self.nums.filter(n, n > 1) == [2, 3]", True),
        ("self.labels.all(k, self.labels[k].size() > 0)", True),
        ("self.items.exists(x, x.n == 2)", True),
        ("[has(self.i), has(self.zz), has(self.s)].filter(x, x).size() == 2", True),
        # strings
        ("self.s.matches('^H.*d$')", True),
        ("self.s.startsWith('Hell') && self.s.endsWith('ld') && self.s.contains('o, W')", True),
        ("self.s.lowerAscii()", "hello, world"),
        ("self.s.upperAscii()", "HELLO, WORLD"),
        ("'  x '.trim()", "x"),
        ("self.s.split(', ')", ["Hello", "World"]),
        ("'a,b,c'.split(',', 2)", ["a", "b,c"]),
        ("self.tags.join('-')", "b-a-c"),
        ("self.tags.join()", "bac"),
        ("self.s.indexOf('o')", 4),
        ("self.s.lastIndexOf('o')", 8),
        ("self.s.substring(7)", "World"),
        ("self.s.substring(0, 5)", "Hello"),
        ("self.s.charAt(1)", "e"),
        ("self.s.replace('l', 'L')", "HeLLo, WorLd"),
        ("self.s.find('[A-Z][a-z]+')", "Hello"),
        ("self.s.findAll('[A-Z]')", ["H", "W"]),
        # lists
        ("self.tags.isSorted()", False),
        ("self.nums.isSorted()", True),
        ("self.nums.sum()", 6),
        ("self.nums.min()", 1),
        ("self.nums.max()", 3),
        ("self.tags.indexOf('a')", 1),
        ("self.tags.lastIndexOf('zz')", -1),
        # URLs and quantities
        ("isURL('https://example.com:8443/path?q=1')", True),
        ("isURL('not a url')", False),
        ("url('https://example.com:8443/path').getHostname()", "example.com"),
        ("url('https://example.com:8443/path').getPort()", "8443"),
        ("url('https://u@example.com/path').getHost()", "example.com"),
        ("url('https://example.com/a/b').getEscapedPath()", "/a/b"),
        ("url('https://example.com/?a=1&a=2').getQuery()", {"a": ["1", "2"]}),
        ("url('http://x').getScheme()", "http"),
        ("quantity('1Gi').isGreaterThan(quantity('1000Mi'))", True),
        ("quantity('500m').compareTo(quantity('0.5'))", 0),
        ("quantity('2k').asInteger()", 2000),
        ("quantity('1.5').isInteger()", False),
        ("quantity('1').add(quantity('500m')).asApproximateFloat()", 1.5),
        ("isQuantity('12Ki') && !isQuantity('12 apples')", True),
    ],
)
def test_rule_results(rule: str, expected: Any) -> None:
    assert run(rule) == expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("self.zz == 1", "no such key: zz"),
        ("self.labels['nope'] == 'x'", "no such key: nope"),
        ("self.nums[7] == 1", "index out of bounds"),
        ("self.i / 0 == 1", "division by zero"),
        ("self.i + self.s == 1", "no such overload"),
        ("self.i.startsWith('x')", "no such overload"),
        ("self.nums.max() > 0 && [].max() > 0", "max called on empty list"),
        ("url('no scheme') == url('x:')", "URL parse error during conversion from string: no scheme"),
        ("self.s.matches('(?=x)')", "invalid regex: error parsing regexp: invalid perl operator: (?="),
        ("self.s.charAt(99) == ''", "index out of range: 99"),
    ],
)
def test_runtime_errors_are_worded_like_cel_go(rule: str, message: str) -> None:
    with pytest.raises(CelEvalError) as raised:
        run(rule)
    assert str(raised.value) == message


def test_errors_short_circuit_like_cel() -> None:
    assert run("self.zz == 1 || true") == celtypes.BoolType(True)
    assert run("false && self.zz == 1") == celtypes.BoolType(False)
    assert run("has(self.zz) && self.zz == 1") == celtypes.BoolType(False)


@pytest.mark.parametrize(
    ("rule", "old", "expected"),
    [
        ("oldSelf.hasValue()", optional_of(None), False),
        ("oldSelf.hasValue()", optional_of(to_cel(1, {"type": "integer"})), True),
        ("oldSelf.orValue(5) == 5", optional_of(None), True),
        ("oldSelf.value() == 1", optional_of(to_cel(1, {"type": "integer"})), True),
    ],
)
def test_optionals(rule: str, old: Any, expected: bool) -> None:
    assert run(rule, old=old) == expected


def test_value_of_an_absent_optional_fails() -> None:
    with pytest.raises(CelEvalError, match=r"optional\.none"):
        run("oldSelf.value() == 1", old=optional_of(None))


def test_resource_root_sees_only_name_and_generate_name() -> None:
    obj = {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": {}}
    root = to_cel(obj, {"type": "object", "properties": {"spec": {"type": "object"}}}, resource_root=True)
    assert root["metadata"] == {"name": "n"}
    assert root["apiVersion"] == "g/v1"


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("plain", "plain"),
        ("foo-bar", "foo__dash__bar"),
        ("a.b", "a__dot__b"),
        ("x/y", "x__slash__y"),
        ("a__b", "a__underscores__b"),
        ("namespace", "__namespace__"),
        ("in", "__in__"),
        ("a b", None),
    ],
)
def test_property_escaping(name: str, escaped: str | None) -> None:
    assert escape_property(name) == escaped


def test_programs_are_cached_per_rule() -> None:
    assert compile_expression("self.i > 1") is compile_expression("self.i > 1")


def test_syntax_errors_raise_compile_errors() -> None:
    with pytest.raises(CelCompileError, match=r"^compilation failed: ERROR: <input>:1:\d+: Syntax error"):
        compile_expression("self.i ==")


# --- compile-time checks -------------------------------------------------------------------------

CHECK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "a": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer"}}}},
        "m": {"type": "object", "additionalProperties": {"type": "string"}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@pytest.mark.parametrize(
    ("rule", "problems"),
    [
        ("self.a == 'x'", []),
        ("self.items.all(i, i.n > 0)", []),
        ("self.m.anything == 'x' && self.m.all(k, self.m[k] != '')", []),
        ("self.free.whatever.deeper == 1", []),
        ("self.metadata.name.size() < 10", []),
        ("self.b == 1", ["compilation failed: ERROR: <input>:1:6: undefined field 'b'"]),
        ("has(self.zz)", ["compilation failed: ERROR: <input>:1:10: undefined field 'zz'"]),
        ("self.items.all(i, i.q > 0)", ["compilation failed: ERROR: <input>:1:21: undefined field 'q'"]),
        (
            "self.a.size.x == 1",
            ["compilation failed: ERROR: <input>:1:8: type 'string' does not support field selection"],
        ),
        ("self.metadata.labels.a == 'b'", ["compilation failed: ERROR: <input>:1:15: undefined field 'labels'"]),
        ("nope == 1", ["compilation failed: ERROR: <input>:1:1: undeclared reference to 'nope' (in container '')"]),
        (
            "self.a.shout()",
            ["compilation failed: ERROR: <input>:1:8: undeclared reference to 'shout' (in container '')"],
        ),
        ("has(self)", ["compilation failed: ERROR: <input>:1:1: invalid argument to has() macro"]),
        (
            "self.items.map(i, i.n > 0, i.n)",
            [
                "compilation failed: ERROR: <input>:1:12: "
                "the three-argument map(x, p, f) macro is not supported by cel-python"
            ],
        ),
    ],
)
def test_check_expression(rule: str, problems: list[str]) -> None:
    assert check_expression(rule, CHECK_SCHEMA, True, False) == problems


def test_optional_old_self_is_not_a_map() -> None:
    assert check_expression("oldSelf.a == 'x'", CHECK_SCHEMA, False, True) == [
        "compilation failed: ERROR: <input>:1:9: type 'optional_type' does not support field selection"
    ]
    assert check_expression("oldSelf.value().a == 'x'", CHECK_SCHEMA, False, True) == []


def rules_at(where: dict[str, Any], *rules: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"spec": {**where, "x-kubernetes-validations": list(rules)}}}


SPEC = {"type": "object", "properties": {"a": {"type": "string"}}}
ITEMS = {"type": "array", "items": {"type": "string"}}
W = "openAPIV3Schema.properties[spec].x-kubernetes-validations[0]"


@pytest.mark.parametrize(
    ("schema", "problems"),
    [
        (rules_at(SPEC, {"rule": "self.a == 'x'"}), []),
        (
            rules_at(SPEC, {"rule": "self.b == 'x'"}),
            [f"{W}.rule: Invalid value: compilation failed: ERROR: <input>:1:6: undefined field 'b'"],
        ),
        (rules_at(SPEC, {"rule": ""}), [f"{W}.rule: Required value: rule is not specified"]),
        (
            rules_at(SPEC, {"rule": "true", "reason": "Nope"}),
            [
                f'{W}.reason: Unsupported value: "Nope": supported values: '
                '"FieldValueDuplicate", "FieldValueForbidden", '
                '"FieldValueInvalid", "FieldValueRequired"'
            ],
        ),
        (
            rules_at(SPEC, {"rule": "true", "fieldPath": ".b"}),
            [f"{W}.fieldPath: Invalid value: does not refer to a valid field"],
        ),
        (rules_at(SPEC, {"rule": "true", "fieldPath": ".a"}), []),
        (
            rules_at(SPEC, {"rule": "true", "message": ""}),
            [f"{W}.message: Invalid value: must be non-empty if specified"],
        ),
        (
            rules_at(SPEC, {"rule": "true", "messageExpression": "self.q"}),
            [f"{W}.messageExpression: Invalid value: compilation failed: ERROR: <input>:1:6: undefined field 'q'"],
        ),
        (
            rules_at(SPEC, {"rule": "true", "optionalOldSelf": True}),
            [f"{W}.optionalOldSelf: Invalid value: may not be set if oldSelf is not used in rule"],
        ),
        (
            {
                "type": "object",
                "properties": {
                    "spec": {
                        **ITEMS,
                        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]},
                    }
                },
            },
            [
                "openAPIV3Schema.properties[spec].items.x-kubernetes-validations[0].rule: Invalid value: "
                "oldSelf cannot be used on the uncorrelatable portion of the schema"
            ],
        ),
    ],
)
def test_compile_problems(schema: dict[str, Any], problems: list[str]) -> None:
    assert compile_problems(schema) == problems


# --- cost ------------------------------------------------------------------------------------------


def test_validation_with_ten_rules_is_cheap() -> None:
    """The emulator validates thousands of objects: a 10-rule schema must stay in the low milliseconds."""
    rules = [
        {"rule": "self.a.size() > 0"},
        {"rule": "self.n >= 0"},
        {"rule": "self.tags.all(t, t.matches('^[a-z]+$'))"},
        {"rule": "!has(self.x) || self.x != ''"},
        {"rule": "[has(self.a), has(self.x)].filter(v, v).size() >= 1"},
        {"rule": "self.tags.size() <= 4"},
        {"rule": "self.a.startsWith('a')", "message": "starts with a"},
        {"rule": "self.n < 100 || self.a == 'big'"},
        {"rule": "self.labels.all(k, k.size() < 64)"},
        {"rule": "self.a == oldSelf.a", "message": "a is immutable"},
    ]
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": rules,
                "properties": {
                    "a": {"type": "string"},
                    "x": {"type": "string"},
                    "n": {"type": "integer"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    }
    obj = {"spec": {"a": "abc", "n": 5, "tags": ["x", "y"], "labels": {"app": "z"}}}
    old = {"spec": {**obj["spec"], "n": 6}}
    assert validate(schema, obj, old) == []
    # Programs are compiled once per rule text and reused (the cost is measured, not asserted:
    # tests/bench/emulator_baseline.py and docs/benchmarks.md).
    compile_expression.cache_clear()
    for _ in range(20):
        validate(schema, obj, old)
    info = compile_expression.cache_info()
    assert info.misses == len(rules)
    assert info.hits >= 19 * len(rules)


@pytest.mark.parametrize(
    ("rule", "fields"),
    [
        ("self.a == 'x'", frozenset({"a"})),
        ("has(self.a) && self.b.size() > 0", frozenset({"a", "b"})),
        ("self == oldSelf", None),
        ("size(self) > 1", None),
        ("self.all(k, k != 'x')", None),
        ("'self' == self.a", None),  # conservative: a bare word self anywhere means the whole value
    ],
)
def test_rules_convert_only_the_fields_they_read(rule: str, fields: frozenset[str] | None) -> None:
    assert compile_expression(rule).self_fields == fields


def test_message_expression_may_read_fields_the_rule_does_not() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.a == 'ok'", "messageExpression": "'a is ' + self.b"}],
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            }
        },
    }
    errors = validate(schema, {"spec": {"a": "bad", "b": "explained"}}, None)
    assert [e.message for e in errors] == ["Invalid value: a is explained"]


def test_a_rule_that_held_for_some_values_still_fails_for_others() -> None:
    # The emulator remembers rules that held for exact values; different values must be evaluated.
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "x-kubernetes-validations": [{"rule": "self.n < 10", "message": "n too big"}],
                "properties": {"n": {"type": "integer"}},
            }
        },
    }
    assert validate(schema, {"spec": {"n": 1}}, None) == []
    assert validate(schema, {"spec": {"n": 1}}, None) == []
    assert [e.message for e in validate(schema, {"spec": {"n": 11}}, None)] == ["Invalid value: n too big"]
