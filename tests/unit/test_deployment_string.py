"""deployment_string reproduces Go's json.Marshal of a map[string]interface{}; pin_images rewrites images.

Golden strings are derived from Go's rules (encoding/json, Go >= 1.22 as anax uses):
- map keys sorted by their bytes, no whitespace;
- strings: `"` and `\\` backslash-escaped, \\b \\f \\n \\r \\t short, other C0 controls \\u00xx (lower-case),
  `<` `>` `&` U+2028 U+2029 as \\u escapes (HTML-safe encoder), DEL, `/` and non-ASCII raw;
- numbers are float64 (hzn decodes into interface{}), printed with strconv's shortest digits in 'f'
  form for 1e-6 <= |x| < 1e21, else 'e' form with the exponent's leading zero trimmed (e-07 -> e-7).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.desired.deployment import DeploymentError, deployment_string, pin_images


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # ordering and nesting
        ({"b": 1, "a": 2}, '{"a":2,"b":1}'),
        ({"z": {"y": 1, "x": {"w": [3, {"v": 1, "u": 2}]}}}, '{"z":{"x":{"w":[3,{"u":2,"v":1}]},"y":1}}'),
        ({"B": 1, "a": 2, "_": 3, "1": 4}, '{"1":4,"B":1,"_":3,"a":2}'),  # byte order: digits < upper < _ < lower
        ({"é": 1, "z": 2, "日": 3}, '{"z":2,"é":1,"日":3}'),  # UTF-8 byte order == code point order
        ({"a": {}, "b": [], "c": [[]], "d": [{}]}, '{"a":{},"b":[],"c":[[]],"d":[{}]}'),
        ({}, "{}"),
        # literals
        ({"t": True, "f": False, "n": None}, '{"f":false,"n":null,"t":true}'),
        # HTML-safe escapes and line separators
        ({"s": "<a href='x'>&amp;</a>"}, '{"s":"\\u003ca href=\'x\'\\u003e\\u0026amp;\\u003c/a\\u003e"}'),
        ({"s": "\u2028\u2029"}, '{"s":"\\u2028\\u2029"}'),
        ({"<&>": 1}, '{"\\u003c\\u0026\\u003e":1}'),  # keys are escaped too
        # control characters, quotes, backslash; '/' and DEL stay raw
        ({"s": "\b\f\n\r\t"}, '{"s":"\\b\\f\\n\\r\\t"}'),
        ({"s": "\x00\x01\x1f\x7f"}, '{"s":"\\u0000\\u0001\\u001f\x7f"}'),
        ({"s": 'q"b\\s/'}, '{"s":"q\\"b\\\\s/"}'),
        # non-ASCII stays UTF-8
        ({"s": "héllo 日本 🙂"}, '{"s":"héllo 日本 🙂"}'),
        # lone surrogates become U+FFFD, a split pair is joined, as Go's decoder would have done
        ({"s": "a\ud800b"}, '{"s":"a\ufffdb"}'),
        ({"s": "\ud83d\ude42"}, '{"s":"🙂"}'),
        # numbers: float64, shortest digits, Go's notation switch
        ({"n": 0}, '{"n":0}'),
        ({"n": -0.0}, '{"n":-0}'),
        ({"n": 1.0}, '{"n":1}'),
        ({"n": -42}, '{"n":-42}'),
        ({"n": 0.1}, '{"n":0.1}'),
        ({"n": 12345.678}, '{"n":12345.678}'),
        ({"n": 1e20}, '{"n":100000000000000000000}'),
        ({"n": 1e21}, '{"n":1e+21}'),
        ({"n": 10**21}, '{"n":1e+21}'),
        ({"n": 3.5e22}, '{"n":3.5e+22}'),
        ({"n": 1e100}, '{"n":1e+100}'),
        ({"n": 1e-6}, '{"n":0.000001}'),
        ({"n": 1e-7}, '{"n":1e-7}'),
        ({"n": -2.5e-7}, '{"n":-2.5e-7}'),
        ({"n": 1.5e-10}, '{"n":1.5e-10}'),
        ({"n": 5e-324}, '{"n":5e-324}'),
        ({"n": 1.7976931348623157e308}, '{"n":1.7976931348623157e+308}'),
        ({"n": 2**53}, '{"n":9007199254740992}'),
        ({"n": 2**53 + 1}, '{"n":9007199254740992}'),  # precision lost exactly as in hzn (float64)
        ({"n": 123456789012345678}, '{"n":123456789012345680}'),
        # tuples are arrays; a realistic deployment
        ({"a": (1, "x")}, '{"a":[1,"x"]}'),
        (
            {
                "services": {
                    "web": {
                        "image": "reg.example.com:5000/ns/web@sha256:" + "0" * 64,
                        "privileged": False,
                        "network": "",
                        "secrets": {},
                        "ports": [{"HostPort": "8080:80/tcp", "HostIP": "127.0.0.1"}],
                    }
                }
            },
            '{"services":{"web":{"image":"reg.example.com:5000/ns/web@sha256:' + "0" * 64 + '",'
            '"network":"","ports":[{"HostIP":"127.0.0.1","HostPort":"8080:80/tcp"}],"privileged":false,"secrets":{}}}}',
        ),
    ],
)
def test_encodes_as_go(value: dict[str, Any], expected: str) -> None:
    assert deployment_string(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"n": float("nan")}, "deployment.n"),
        ({"n": float("inf")}, "deployment.n"),
        ({"a": [1, float("-inf")]}, "deployment.a[1]"),
        ({"n": 10**400}, "too large"),
        ({1: "x"}, "not a string"),
        ({"a": {"b": {1, 2}}}, "deployment.a.b: a set"),
        ({"a": b"bytes"}, "a bytes"),
        ({"\ud800": 1, chr(0xFFFD): 2}, "same JSON key"),  # chr(): ruff confuses the literals
    ],
)
def test_refuses_what_go_cannot_encode(value: dict[Any, Any], fragment: str) -> None:
    with pytest.raises(DeploymentError) as caught:
        deployment_string(value)
    assert fragment in caught.value.message
    assert caught.value.reason == "InvalidDeployment"


def test_refuses_a_top_level_array() -> None:
    with pytest.raises(DeploymentError):
        deployment_string([1, 2])  # type: ignore[arg-type]


_SAFE_INTEGERS = st.integers(min_value=-(2**53), max_value=2**53)
_SCALARS = st.none() | st.booleans() | _SAFE_INTEGERS | st.floats(allow_nan=False, allow_infinity=False) | st.text()
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
_OBJECTS = st.dictionaries(st.text(max_size=6), _JSON, max_size=5)


def _reversed_order(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reversed_order(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_order(item) for item in value]
    return value


@given(_OBJECTS)
def test_round_trips_and_ignores_key_order(value: dict[str, Any]) -> None:
    text = deployment_string(value)
    # Go reads every number back as a float64: so must we (a large float prints as an integer).
    assert json.loads(text, parse_int=float) == value
    assert deployment_string(_reversed_order(value)) == text


_INTEGER_JSON = st.recursive(
    st.none() | st.booleans() | _SAFE_INTEGERS | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=6), _INTEGER_JSON, max_size=5))
def test_matches_the_cross_checked_python_form_without_floats(value: dict[str, Any]) -> None:
    # The reference cross-checked this Python expression against Go byte for byte (integers < 2^53).
    python_form = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        python_form = python_form.replace(raw, escaped)
    assert deployment_string(value) == python_form


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_read_back_to_the_same_float64(number: float) -> None:
    text = deployment_string({"n": number})
    assert float(json.loads(text)["n"]) == number


DEPLOYMENT: dict[str, Any] = {
    "services": {
        "web": {"image": "reg.example.com/ns/web:1.0", "privileged": False, "ports": [{"HostPort": "80"}]},
        "sidecar": {"image": "reg.example.com/ns/side:2", "environment": ["A=1"]},
    },
    "extra": {"kept": True},
}


def test_pin_images_rewrites_only_the_named_images_on_a_copy() -> None:
    original = json.loads(json.dumps(DEPLOYMENT))
    digest = "reg.example.com/ns/web@sha256:" + "a" * 64
    pinned = pin_images(DEPLOYMENT, {"web": digest})
    assert pinned["services"]["web"]["image"] == digest
    assert pinned["services"]["sidecar"] == DEPLOYMENT["services"]["sidecar"]
    assert {k: v for k, v in pinned["services"]["web"].items() if k != "image"} == {
        "privileged": False,
        "ports": [{"HostPort": "80"}],
    }
    assert pinned["extra"] == {"kept": True}
    assert original == DEPLOYMENT  # input untouched
    pinned["services"]["web"]["ports"].append("x")
    assert original == DEPLOYMENT  # deep copy


def test_pin_images_pins_every_container() -> None:
    pins = {"web": "h/w@sha256:" + "1" * 64, "sidecar": "h/s@sha256:" + "2" * 64}
    pinned = pin_images(DEPLOYMENT, pins)
    assert {name: svc["image"] for name, svc in pinned["services"].items()} == pins


@pytest.mark.parametrize(
    ("deployment", "pins", "fragment"),
    [
        (DEPLOYMENT, {"db": "h/db@sha256:" + "0" * 64}, "deployment.services.db: no such container"),
        ({"services": {"web": "not-an-object"}}, {"web": "x"}, "no such container"),
        ({"nothing": {}}, {"web": "x"}, "deployment.services: missing"),
        ({"services": []}, {"web": "x"}, "deployment.services: missing"),
    ],
)
def test_pin_images_refuses_unknown_containers(deployment: dict[str, Any], pins: dict[str, str], fragment: str) -> None:
    with pytest.raises(DeploymentError) as caught:
        pin_images(deployment, pins)
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("services", "unpinned"),
    [
        ({"a": {"image": "r.example/x@sha256:" + "0" * 64}}, []),
        ({"a": {"image": "r.example/x:1.0"}}, ["a"]),
        ({"a": {"image": "r.example/x:1.0@sha256:" + "0" * 64}, "b": {}}, ["b"]),
        ({"b": {"image": None}, "a": {"image": "x"}}, ["a", "b"]),
        ({"a": "not an object"}, ["a"]),
    ],
)
def test_unpinned_containers_are_named(services: dict[str, Any], unpinned: list[str]) -> None:
    from horizon_publisher.desired.deployment import unpinned_containers

    assert unpinned_containers({"services": services}) == unpinned
