"""The CRD validation layer (sandbox/kubeapi/schema.py): messages as the real API server words them.

Expected strings follow k8s.io/apimachinery field errors and kube-openapi's validate messages
(``spec.x in body must be of type string: "integer"``), checked against their source.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from horizon_publisher.sandbox.kubeapi.schema import (
    FieldError,
    apply_defaults,
    compile_problems,
    invalid_error,
    prune,
    structural_problems,
    validate,
)
from horizon_publisher.sandbox.kubeapi.schema_errors import go_float, go_json, go_quote

ROOT = Path(__file__).resolve().parents[3]
SKIPPED = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


def spec_schema(x: dict[str, Any], **spec: Any) -> dict[str, Any]:
    """A resource schema whose ``spec.x`` is ``x``."""
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": x}, **spec}}}


def messages(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in validate(schema, obj, old)]


# --- OpenAPI keywords --------------------------------------------------------------------------

KEYWORD_CASES = [
    ({"type": "string"}, "a", []),
    ({"type": "string"}, 5, ['spec.x: Invalid value: "integer": spec.x in body must be of type string: "integer"']),
    ({"type": "integer"}, 3, []),
    ({"type": "integer"}, 3.0, []),  # JSON 3.0 is an integer to the API server
    ({"type": "integer"}, 3.5, ['spec.x: Invalid value: "number": spec.x in body must be of type integer: "number"']),
    (
        {"type": "integer"},
        True,
        ['spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean"'],
    ),
    ({"type": "number"}, 3, []),
    (
        {"type": "boolean"},
        "true",
        ['spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string"'],
    ),
    ({"type": "object"}, [], ['spec.x: Invalid value: "array": spec.x in body must be of type object: "array"']),
    ({"type": "string"}, None, ['spec.x: Invalid value: "null": spec.x in body must be of type string: "null"']),
    ({"type": "string", "nullable": True}, None, []),
    ({"type": "string", "enum": ["a", "b"]}, "a", []),
    ({"type": "string", "enum": ["d", "e"]}, "c", ['spec.x: Unsupported value: "c": supported values: "d", "e"']),
    ({"type": "integer", "enum": [1, 2]}, 3, ['spec.x: Unsupported value: 3: supported values: "1", "2"']),
    (
        {"type": "integer", "enum": [1]},
        True,
        [
            'spec.x: Invalid value: "boolean": spec.x in body must be of type integer: "boolean"',
            'spec.x: Unsupported value: true: supported values: "1"',
        ],
    ),
    ({"type": "string", "pattern": "^[a-z]+$"}, "abc", []),
    (
        {"type": "string", "pattern": "^[a-z]+$"},
        "ABC",
        ["spec.x: Invalid value: \"ABC\": spec.x in body should match '^[a-z]+$'"],
    ),
    ({"type": "string", "pattern": "b"}, "abc", []),  # unanchored, as Go's MatchString
    (
        {"type": "string", "pattern": "(?=a)"},
        "a",
        [
            'spec.x: Invalid value: "a": spec.x in body should match \'(?=a), but pattern is invalid: '
            "error parsing regexp: invalid perl operator: (?='"
        ],
    ),
    (
        {"type": "string", "minLength": 2},
        "é",
        ['spec.x: Invalid value: "é": spec.x in body should be at least 2 chars long'],
    ),
    ({"type": "string", "maxLength": 2}, "éé", []),  # characters, not bytes
    ({"type": "string", "maxLength": 2}, "abc", ["spec.x: Too long: may not be more than 2 bytes"]),
    ({"type": "string", "maxLength": 1}, "abc", ["spec.x: Too long: may not be more than 1 byte"]),
    (
        {"type": "integer", "minimum": 1},
        0,
        ["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"],
    ),
    (
        {"type": "integer", "minimum": 1, "exclusiveMinimum": True},
        1,
        ["spec.x: Invalid value: 1: spec.x in body should be greater than 1"],
    ),
    (
        {"type": "integer", "maximum": 10},
        11,
        ["spec.x: Invalid value: 11: spec.x in body should be less than or equal to 10"],
    ),
    (
        {"type": "number", "maximum": 1000000},
        2e6,
        ["spec.x: Invalid value: 2e+06: spec.x in body should be less than or equal to 1e+06"],
    ),
    (
        {"type": "number", "maximum": 1.5, "exclusiveMaximum": True},
        1.5,
        ["spec.x: Invalid value: 1.5: spec.x in body should be less than 1.5"],
    ),
    ({"type": "integer", "multipleOf": 5}, 12, ["spec.x: Invalid value: 12: spec.x in body should be a multiple of 5"]),
    (
        {"type": "integer", "format": "int32"},
        2**31,
        ['<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.x'],
    ),
    ({"type": "integer", "format": "int64"}, 2**31, []),
    (
        {"type": "array", "items": {"type": "string"}, "minItems": 1},
        [],
        ["spec.x: Invalid value: 0: spec.x in body should have at least 1 items"],
    ),
    (
        {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        ["a", "b"],
        ["spec.x: Too many: 2: must have at most 1 item"],
    ),
    (
        {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        ["a", "a"],
        ['spec.x: Invalid value: "": spec.x in body shouldn\'t contain duplicates'],
    ),
    (
        {"type": "array", "items": {"type": "string"}},
        ["a", 1],
        ['spec.x[1]: Invalid value: "integer": spec.x[1] in body must be of type string: "integer"'],
    ),
    (
        {"type": "object", "minProperties": 1},
        {},
        ["spec.x: Invalid value: 0: spec.x in body should have at least 1 properties"],
    ),
    (
        {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}},
        {"a": "1", "b": "2"},
        ["spec.x: Too many: 2: must have at most 1 item"],
    ),
    (
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"a": 1},
        ['spec.x.a: Invalid value: "integer": spec.x.a in body must be of type string: "integer"'],
    ),
    (
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]},
        {"a": "1"},
        ["spec.x.b: Required value"],
    ),
    ({"type": "string", "format": "date-time"}, "2024-01-02T03:04:05Z", []),
    ({"type": "string", "format": "date-time"}, "2024-01-02T03:04:05.123+02:00", []),
    (
        {"type": "string", "format": "date-time"},
        "yesterday",
        ['spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday"'],
    ),
    (
        {"type": "string", "format": "date-time"},
        "2024-01-02",
        ['spec.x: Invalid value: "2024-01-02": spec.x in body must be of type date-time: "2024-01-02"'],
    ),
    ({"type": "string", "format": "byte"}, "aGVsbG8=", []),
    (
        {"type": "string", "format": "byte"},
        "not base64!",
        ['spec.x: Invalid value: "not base64!": spec.x in body must be of type byte: "not base64!"'],
    ),
    (
        {"type": "string", "format": "k8s-short-name"},
        "Bad_Name",
        ['spec.x: Invalid value: "Bad_Name": spec.x in body must be of type k8s-short-name: "Bad_Name"'],
    ),
    ({"type": "string", "format": "uuid"}, "0f8fad5b-d9cb-469f-a165-70867728950e", []),
    ({"type": "string", "format": "no-such-format"}, "anything", []),  # unknown formats are stripped
    ({"x-kubernetes-int-or-string": True}, 8080, []),
    ({"x-kubernetes-int-or-string": True}, "http", []),
    (
        {"x-kubernetes-int-or-string": True},
        1.5,
        ['spec.x: Invalid value: "number": spec.x in body must be of type integer,string: "number"'],
    ),
    ({"x-kubernetes-preserve-unknown-fields": True}, {"any": ["thing"]}, []),
]


@pytest.mark.parametrize(("x", "value", "expected"), KEYWORD_CASES)
def test_openapi_keyword_messages(x: dict[str, Any], value: Any, expected: list[str]) -> None:
    errors = [m for m in messages(spec_schema(x), {"spec": {"x": value}}) if m != SKIPPED]
    assert errors == expected


@pytest.mark.parametrize(
    ("x", "value", "reason"),
    [
        ({"type": "string"}, 1, "FieldValueTypeInvalid"),
        ({"type": "string", "enum": ["a"]}, "b", "FieldValueNotSupported"),
        ({"type": "string", "maxLength": 1}, "ab", "FieldValueTooLong"),
        ({"type": "array", "items": {"type": "string"}, "maxItems": 0}, ["a"], "FieldValueTooMany"),
        ({"type": "string", "pattern": "^a$"}, "b", "FieldValueInvalid"),
        ({"type": "string", "format": "date-time"}, "x", "FieldValueTypeInvalid"),
    ],
)
def test_openapi_reasons(x: dict[str, Any], value: Any, reason: str) -> None:
    assert validate(spec_schema(x), {"spec": {"x": value}}, None)[0].reason == reason


def test_required_at_root_and_nested_paths() -> None:
    schema = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "registry": {
                        "type": "object",
                        "properties": {
                            "openshift": {
                                "type": "object",
                                "required": ["project"],
                                "properties": {"project": {"type": "string"}},
                            }
                        },
                    }
                },
            }
        },
    }
    assert messages(schema, {}) == ["spec: Required value", SKIPPED]
    obj = {"spec": {"registry": {"openshift": {}}}}
    assert messages(schema, obj) == ["spec.registry.openshift.project: Required value", SKIPPED]


# --- list types --------------------------------------------------------------------------------

SET_SCHEMA = {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
MAP_SCHEMA = {
    "type": "array",
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["name"],
    "items": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "v": {"type": "integer"}},
    },
}
MAP2_SCHEMA = {**MAP_SCHEMA, "x-kubernetes-list-map-keys": ["name", "v"]}


@pytest.mark.parametrize(
    ("x", "value", "expected"),
    [
        (SET_SCHEMA, ["amd64", "arm64"], []),
        (SET_SCHEMA, ["amd64", "arm64", "amd64", "amd64"], ['spec.x[2]: Duplicate value: "amd64"']),
        (MAP_SCHEMA, [{"name": "a", "v": 1}, {"name": "b", "v": 1}], []),
        (MAP_SCHEMA, [{"name": "a", "v": 1}, {"name": "a", "v": 2}], ['spec.x[1]: Duplicate value: {"name":"a"}']),
        (MAP2_SCHEMA, [{"name": "a", "v": 1}, {"name": "a", "v": 2}], []),
        (
            MAP2_SCHEMA,
            [{"name": "a", "v": 1}, {"v": 1, "name": "a"}],
            ['spec.x[1]: Duplicate value: {"name":"a","v":1}'],
        ),
    ],
)
def test_list_type_uniqueness(x: dict[str, Any], value: Any, expected: list[str]) -> None:
    errors = validate(spec_schema(x), {"spec": {"x": value}}, None)
    assert [str(e) for e in errors] == expected
    assert all(e.reason == "FieldValueDuplicate" for e in errors)


# --- CEL rules as part of validate -------------------------------------------------------------


def rule_schema(*rules: dict[str, Any], x: dict[str, Any] | None = None) -> dict[str, Any]:
    """``spec`` with properties a, b, c, n (and x) and the given rules on ``spec``."""
    properties = {"a": {"type": "string"}, "b": {"type": "string"}, "c": {"type": "string"}, "n": {"type": "integer"}}
    if x is not None:
        properties["x"] = x
    return {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": properties, "x-kubernetes-validations": list(rules)}},
    }


EXACTLY_ONE = "[has(self.a), has(self.b), has(self.c)].filter(x, x).size() == 1"


@pytest.mark.parametrize(
    ("rule", "spec", "expected"),
    [
        ({"rule": EXACTLY_ONE}, {"a": "1"}, []),
        ({"rule": EXACTLY_ONE}, {}, [f"spec: Invalid value: failed rule: {EXACTLY_ONE}"]),
        ({"rule": EXACTLY_ONE}, {"a": "1", "c": "3"}, [f"spec: Invalid value: failed rule: {EXACTLY_ONE}"]),
        (
            {"rule": EXACTLY_ONE, "message": "exactly one of a, b, c"},
            {},
            ["spec: Invalid value: exactly one of a, b, c"],
        ),
        (
            {"rule": "self.n < 5", "messageExpression": "'n is ' + string(self.n)"},
            {"n": 7},
            ["spec: Invalid value: n is 7"],
        ),
        # a messageExpression that fails falls back to message
        (
            {"rule": "self.n < 5", "message": "too big", "messageExpression": "self.zz"},
            {"n": 7},
            ["spec: Invalid value: too big"],
        ),
        ({"rule": "self.n < 5", "fieldPath": ".n"}, {"n": 7}, ["spec.n: Invalid value: failed rule: self.n < 5"]),
        ({"rule": "self.n < 5", "reason": "FieldValueForbidden", "message": "no"}, {"n": 7}, ["spec: Forbidden: no"]),
        (
            {"rule": "has(self.a)", "reason": "FieldValueRequired", "message": "a please"},
            {},
            ["spec: Required value: a please"],
        ),
        (
            {"rule": "self.n < 5", "reason": "FieldValueDuplicate", "message": "dup"},
            {"n": 7},
            ["spec: Duplicate value"],
        ),
        (
            {"rule": "self.a == 'x'"},
            {},
            ["spec: Invalid value: \"object\": no such key: a evaluating rule: self.a == 'x'"],
        ),
        (
            {"rule": "self.n + self.a == 1"},
            {"n": 1, "a": "1"},
            [
                "spec: Invalid value: \"object\": 'no such overload': call arguments did not match a supported "
                "operator, function or macro signature for rule: self.n + self.a == 1"
            ],
        ),
        ({"rule": "self.n"}, {"n": 1}, ['spec: Invalid value: "object": rule did not evaluate to a bool: self.n']),
    ],
)
def test_rules(rule: dict[str, Any], spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(rule_schema(rule), {"spec": spec}) == expected


def test_rule_reasons_in_causes() -> None:
    errors = validate(rule_schema({"rule": "false", "reason": "FieldValueForbidden"}), {"spec": {}}, None)
    assert errors == [FieldError("spec", "FieldValueForbidden", "Forbidden: failed rule: false")]


def test_rule_on_a_scalar_shows_its_value() -> None:
    schema = rule_schema(x={"type": "string", "x-kubernetes-validations": [{"rule": "self.startsWith('v')"}]})
    assert messages(schema, {"spec": {"x": "1.0"}}) == [
        "spec.x: Invalid value: \"1.0\": failed rule: self.startsWith('v')"
    ]


def test_rule_at_root_uses_nil_path_and_sees_metadata_name() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self.metadata.name.size() <= 3"}],
        "properties": {"spec": {"type": "object"}},
    }
    assert messages(schema, {"metadata": {"name": "abc"}}) == []
    assert messages(schema, {"metadata": {"name": "abcd"}}) == [
        "<nil>: Invalid value: failed rule: self.metadata.name.size() <= 3"
    ]


def test_blocking_schema_errors_skip_rules() -> None:
    schema = rule_schema({"rule": "false"}, x={"type": "string"})
    assert messages(schema, {"spec": {"x": 1}}) == [
        'spec.x: Invalid value: "integer": spec.x in body must be of type string: "integer"',
        SKIPPED,
    ]


def test_non_blocking_errors_let_rules_run() -> None:
    schema = rule_schema({"rule": "false", "message": "ran"}, x={"type": "string", "pattern": "^a$"})
    assert messages(schema, {"spec": {"x": "b"}}) == [
        "spec.x: Invalid value: \"b\": spec.x in body should match '^a$'",
        "spec: Invalid value: ran",
    ]


IMMUTABLE = {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "is immutable"}]}


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ("a", None, []),  # transition rules do not run on create
        ("a", {"spec": {}}, []),  # ...nor where the old object had no value
        ("a", {"spec": {"x": "a"}}, []),
        ("b", {"spec": {"x": "a"}}, ['spec.x: Invalid value: "b": is immutable']),
    ],
)
def test_transition_rule(new: str, old: dict[str, Any] | None, expected: list[str]) -> None:
    assert messages(rule_schema(x=IMMUTABLE), {"spec": {"x": new}}, old) == expected


OPTIONAL = {
    "type": "string",
    "x-kubernetes-validations": [
        {"rule": "!oldSelf.hasValue() || oldSelf.value() == self", "optionalOldSelf": True, "message": "set once"},
        {"rule": "oldSelf.orValue('') != 'frozen'", "optionalOldSelf": True, "message": "frozen"},
    ],
}


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ("a", None, []),
        ("frozen", None, []),
        ("a", {"spec": {"x": "a"}}, []),
        ("b", {"spec": {"x": "a"}}, ['spec.x: Invalid value: "b": set once']),
        ("frozen", {"spec": {"x": "frozen"}}, ['spec.x: Invalid value: "frozen": frozen']),
    ],
)
def test_optional_old_self(new: str, old: dict[str, Any] | None, expected: list[str]) -> None:
    assert messages(rule_schema(x=OPTIONAL), {"spec": {"x": new}}, old) == expected


def test_list_map_items_correlate_by_key_for_transition_rules() -> None:
    items = copy.deepcopy(MAP_SCHEMA)
    items["items"]["x-kubernetes-validations"] = [{"rule": "self.v == oldSelf.v", "message": "v is immutable"}]
    schema = rule_schema(x=items)
    old = {"spec": {"x": [{"name": "a", "v": 1}, {"name": "b", "v": 2}]}}
    assert (
        messages(schema, {"spec": {"x": [{"name": "b", "v": 2}, {"name": "a", "v": 1}, {"name": "c", "v": 9}]}}, old)
        == []
    )
    assert messages(schema, {"spec": {"x": [{"name": "b", "v": 3}]}}, old) == [
        "spec.x[0]: Invalid value: v is immutable"
    ]


def test_ratcheting_keeps_unchanged_invalid_values() -> None:
    schema = rule_schema({"rule": "self.n < 5", "message": "small"}, x={"type": "string", "maxLength": 2})
    stored = {"spec": {"x": "long", "n": 7}}
    assert messages(schema, copy.deepcopy(stored), stored) == []  # nothing changed: tolerated
    changed = {"spec": {"x": "long", "n": 8}}
    assert messages(schema, changed, stored) == ["spec: Invalid value: small"]  # spec changed, x did not
    assert messages(schema, {"spec": {"x": "longer", "n": 7}}, stored) == [
        "spec.x: Too long: may not be more than 2 bytes",
        SKIPPED,
    ]


# --- 422 body ----------------------------------------------------------------------------------


def test_invalid_error_single() -> None:
    error = invalid_error(
        "edge.horizon.dev", "EdgeServiceImage", "x", [FieldError("spec.a", "FieldValueRequired", "Required value")]
    )
    assert error.code == 422
    assert error.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'EdgeServiceImage.edge.horizon.dev "x" is invalid: spec.a: Required value',
        "reason": "Invalid",
        "code": 422,
        "details": {
            "name": "x",
            "group": "edge.horizon.dev",
            "kind": "EdgeServiceImage",
            "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.a"}],
        },
    }


def test_invalid_error_several_and_duplicates_once() -> None:
    schema = spec_schema({"type": "string", "enum": ["d", "e"]}, required=["a"])
    errors = validate(schema, {"spec": {"x": "c"}}, None)
    errors.append(errors[0])
    message = invalid_error("g.io", "K", "n", errors).message
    assert message == (
        'K.g.io "n" is invalid: [spec.x: Unsupported value: "c": supported values: "d", "e", '
        f"spec.a: Required value, {SKIPPED}]"
    )


def test_invalid_error_core_group() -> None:
    assert invalid_error("", "ConfigMap", "c", []).message == 'ConfigMap "c" is invalid'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10.0, "10"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1.5, "1.5"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (123456789.125, "1.23456789125e+08"),
    ],
)
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_go_quote_and_json() -> None:
    assert go_quote('a"b\n\x01é') == '"a\\"b\\n\\x01é"'
    assert go_json({"b": 1.0, "a": "<x>"}) == '{"a":"\\u003cx\\u003e","b":1}'


# --- pruning and defaulting --------------------------------------------------------------------

PRUNE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "keep": {"type": "string"},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"known": {"type": "object", "properties": {"k": {"type": "string"}}}},
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"k": {"type": "string"}}}},
                },
                "nullable": {"type": "string", "nullable": True},
                "defaulted": {"type": "string", "default": "d"},
                "items": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"keep": "a", "drop": 1}, {"keep": "a"}),
        ({"free": {"anything": 1, "known": {"k": "a", "drop": 2}}}, {"free": {"anything": 1, "known": {"k": "a"}}}),
        ({"labels": {"a": "b", "c": "d"}}, {"labels": {"a": "b", "c": "d"}}),
        (
            {
                "template": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {"k": "a", "drop": 1},
                    "drop": 2,
                }
            },
            {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"k": "a"}}},
        ),
        ({"keep": None, "nullable": None, "defaulted": None}, {"nullable": None, "defaulted": None}),
        ({"items": [{"k": "a", "drop": 1}, {"drop": 2}]}, {"items": [{"k": "a"}, {}]}),
    ],
)
def test_prune(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    obj = {
        "apiVersion": "g/v1",
        "kind": "K",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": spec,
        "status": {},
    }
    prune(PRUNE_SCHEMA, obj)
    assert obj == {"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "n", "labels": {"a": "b"}}, "spec": expected}


DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "default": "Auto"},
                "signing": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "algorithm": {"type": "string", "default": "RSA"},
                        "bits": {"type": "integer", "default": 4096},
                    },
                },
                "optional": {"type": "object", "properties": {"deep": {"type": "string", "default": "x"}}},
                "ports": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"proto": {"type": "string", "default": "TCP"}}},
                },
                "env": {"type": "object", "additionalProperties": {"type": "string", "default": "unset"}},
            },
        },
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, {"mode": "Auto", "signing": {"algorithm": "RSA", "bits": 4096}}),
        (
            {"mode": "Manual", "signing": {"bits": 2048}},
            {"mode": "Manual", "signing": {"algorithm": "RSA", "bits": 2048}},
        ),
        ({"mode": None}, {"mode": "Auto", "signing": {"algorithm": "RSA", "bits": 4096}}),  # non-nullable null
        ({"optional": {}}, {"mode": "Auto", "signing": {"algorithm": "RSA", "bits": 4096}, "optional": {"deep": "x"}}),
        (
            {"ports": [{}, {"proto": "UDP"}]},
            {
                "mode": "Auto",
                "signing": {"algorithm": "RSA", "bits": 4096},
                "ports": [{"proto": "TCP"}, {"proto": "UDP"}],
            },
        ),
        (
            {"env": {"A": None, "B": "b"}},
            {"mode": "Auto", "signing": {"algorithm": "RSA", "bits": 4096}, "env": {"A": "unset", "B": "b"}},
        ),
    ],
)
def test_apply_defaults(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    obj = {"spec": spec}
    apply_defaults(DEFAULT_SCHEMA, obj)
    assert obj == {"spec": expected}


def test_defaults_need_the_parent_object() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    apply_defaults(DEFAULT_SCHEMA, obj)
    assert obj == {"metadata": {"name": "x"}}


def test_default_value_is_copied() -> None:
    first: dict[str, Any] = {"spec": {}}
    second: dict[str, Any] = {"spec": {}}
    apply_defaults(DEFAULT_SCHEMA, first)
    apply_defaults(DEFAULT_SCHEMA, second)
    first["spec"]["signing"]["bits"] = 1
    assert second["spec"]["signing"]["bits"] == 4096
    assert DEFAULT_SCHEMA["properties"]["spec"]["properties"]["signing"]["default"] == {}


# --- structural schema -------------------------------------------------------------------------

GOOD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 63}}},
        "spec": {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
            },
            "anyOf": [{"required": ["port"]}, {"required": ["free"]}],
        },
    },
}
P = "openAPIV3Schema.properties[spec].properties[x]"


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        ({"type": "string"}, []),
        ({"type": "array"}, [f"{P}.items: Required value: must be specified"]),
        (
            {"properties": {"a": {"type": "string"}}},
            [f"{P}.type: Required value: must not be empty for specified object fields"],
        ),
        (
            {"type": "array", "items": {}},
            [f"{P}.items.type: Required value: must not be empty for specified array items"],
        ),
        ({"type": "null"}, [f"{P}.type: Forbidden: type cannot be set to null, use nullable as an alternative"]),
        (
            {"type": "string", "pattern": "(?<=a)b"},
            [
                f'{P}.pattern: Invalid value: "(?<=a)b": must be a valid regular expression, but isn\'t: '
                "error parsing regexp: invalid perl operator: (?<="
            ],
        ),
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            [
                f"{P}.uniqueItems: Forbidden: "
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ],
        ),
        (
            {"type": "object", "x-kubernetes-preserve-unknown-fields": False},
            [f"{P}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined"],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
            [f"{P}.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"],
        ),
        (
            {"type": "string", "anyOf": [{"type": "string", "description": "d"}]},
            [
                f"{P}.anyOf[0].description: Forbidden: must be empty to be structural",
                f"{P}.anyOf[0].type: Forbidden: must be empty to be structural",
            ],
        ),
        (
            {"type": "object", "x-kubernetes-embedded-resource": True},
            [
                f"{P}.properties: Required value: must not be empty if x-kubernetes-embedded-resource is true "
                "without x-kubernetes-preserve-unknown-fields"
            ],
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
            [
                f"{P}.items.properties[name].default: Required value: this property is in x-kubernetes-list-map-keys, "
                "so it must have a default or be a required property"
            ],
        ),
        (
            {"type": "array", "x-kubernetes-list-type": "sorted", "items": {"type": "string"}},
            [f'{P}.x-kubernetes-list-type: Unsupported value: "sorted": supported values: "atomic", "set", "map"'],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": 1}},
            [
                f'{P}.default: Invalid value: {{"a":1}}: '
                'Invalid value: "integer": a in body must be of type string: "integer"'
            ],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"b": "x"}},
            [f'{P}.default: Invalid value: {{"b":"x"}}: must not have unknown fields'],
        ),
        (
            {"$ref": "#/definitions/x"},
            [
                f"{P}.$ref: Forbidden: $ref is not supported",
                f"{P}.type: Required value: must not be empty for specified object fields",
            ],
        ),
    ],
)
def test_structural_problems(x: dict[str, Any], expected: list[str]) -> None:
    assert structural_problems(spec_schema(x)) == sorted(expected)


def test_structural_good_schema_and_root_rules() -> None:
    assert structural_problems(GOOD_SCHEMA) == []
    bad_root = {
        "type": "string",
        "additionalProperties": {"type": "string"},
        "nullable": True,
        "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}},
    }
    assert structural_problems(bad_root) == sorted(
        [
            "openAPIV3Schema.additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
            "openAPIV3Schema.additionalProperties: Forbidden: must not be used at the root",
            "openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root",
            "openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and "
            "generateName, but metadata is implicitly specified",
            'openAPIV3Schema.type: Invalid value: "string": must be object at the root',
        ]
    )


# --- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "n", "x", "q"]), children, max_size=4)
    ),
    max_leaves=12,
)
FIXED_SCHEMA = rule_schema(
    {"rule": EXACTLY_ONE},
    {"rule": "!has(self.n) || self.n > 0", "messageExpression": "'n=' + string(self.n)"},
    x={
        "type": "array",
        "maxItems": 3,
        "x-kubernetes-list-type": "set",
        "items": {"type": "string", "pattern": "^[a-z]*$", "x-kubernetes-validations": [{"rule": "self.size() < 5"}]},
    },
)
FIXED_SCHEMA["properties"]["spec"]["properties"]["d"] = {
    "type": "object",
    "default": {},
    "properties": {"e": {"type": "string", "default": "E"}},
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=json_values, old=json_values)
def test_validate_never_raises(spec: Any, old: Any) -> None:
    errors = validate(FIXED_SCHEMA, {"spec": spec}, {"spec": old})
    assert all(isinstance(e, FieldError) for e in errors)
    assert all(isinstance(e, FieldError) for e in validate(FIXED_SCHEMA, {"spec": spec}, None))


@settings(max_examples=150, deadline=None)
@given(spec=json_values)
def test_prune_is_idempotent_and_defaults_are_stable(spec: Any) -> None:
    obj = {"apiVersion": "g/v1", "kind": "K", "spec": spec, "extra": spec}
    prune(FIXED_SCHEMA, obj)
    once = copy.deepcopy(obj)
    prune(FIXED_SCHEMA, obj)
    assert obj == once
    apply_defaults(FIXED_SCHEMA, obj)
    defaulted = copy.deepcopy(obj)
    first = validate(FIXED_SCHEMA, obj, None)
    apply_defaults(FIXED_SCHEMA, obj)
    assert obj == defaulted
    assert validate(FIXED_SCHEMA, obj, None) == first


# --- the project's own CRDs and samples --------------------------------------------------------


def _documents(pattern: str, directory: str) -> list[dict[str, Any]]:
    docs = []
    for path in sorted((ROOT / directory).glob(pattern)):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return docs


CRD_DOCS = _documents("*.yaml", "crds")
CRD_SCHEMAS = {
    (crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"]): version["schema"]["openAPIV3Schema"]
    for crd in CRD_DOCS
    for version in crd["spec"]["versions"]
}
SAMPLES = [
    d
    for d in _documents("*.yaml", "deploy/samples")
    if "/" in d.get("apiVersion", "") and (*d["apiVersion"].rsplit("/", 1), d["kind"]) in CRD_SCHEMAS
]


@pytest.mark.skipif(not CRD_SCHEMAS, reason="no CRDs in crds/")
@pytest.mark.parametrize("key", sorted(CRD_SCHEMAS), ids=lambda k: f"{k[2]}.{k[1]}")
def test_project_crds_are_structural_and_compile(key: tuple[str, str, str]) -> None:
    schema = CRD_SCHEMAS[key]
    assert structural_problems(schema) == []
    assert compile_problems(schema) == []


@pytest.mark.skipif(not SAMPLES, reason="no custom-resource samples in deploy/samples/")
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: f"{s['kind']}/{s['metadata']['name']}")
def test_project_samples_validate(sample: dict[str, Any]) -> None:
    group, version = sample["apiVersion"].rsplit("/", 1)
    schema = CRD_SCHEMAS[(group, version, sample["kind"])]
    obj = copy.deepcopy(sample)
    prune(schema, obj)
    assert obj == sample, "the sample has fields its CRD does not declare"
    apply_defaults(schema, obj)
    assert validate(schema, obj, None) == []
    assert validate(schema, obj, copy.deepcopy(obj)) == []


def test_integer_beyond_int64_is_reported_not_raised() -> None:
    # Found by hypothesis: CEL ints are int64, and converting 2**63 used to raise out of validate().
    errors = validate(FIXED_SCHEMA, {"spec": {}}, {"spec": {"n": 9.223372036854776e18}})
    assert all(isinstance(error.message, str) for error in errors)
