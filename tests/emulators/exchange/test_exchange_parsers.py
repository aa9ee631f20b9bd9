"""The emulator's pure parts against independent oracles: service ids, versions, ranges, LIKE, Jackson-like
body binding, Instant formatting, MessageFormat arguments."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.exchange.common import like
from horizon_publisher.sandbox.exchange.jsonbody import BodyError, Record, boolean, list_of
from horizon_publisher.sandbox.exchange.jsonbody import string as string_field
from horizon_publisher.sandbox.exchange.messages import Opt, format_instant, java_arg
from horizon_publisher.sandbox.exchange.versions import (
    Version,
    VersionRange,
    form_service_id,
    is_valid_version,
    url_part_of_id,
    version_in_range,
)

TROUBLESOME = "$!*,;/?@&~=%"
SCHEME_CHARS = string.ascii_letters + string.digits + "+.-"


def oracle_url_part(url: str) -> str:
    """Strip the first ``<scheme>://`` when everything before it is a scheme character, then replace."""
    cut = url.find("://")
    if cut >= 0 and all(char in SCHEME_CHARS for char in url[:cut]):
        url = url[cut + 3 :]
    return "".join("-" if char in TROUBLESOME else char for char in url)


@pytest.mark.parametrize(
    ("url", "version", "arch", "expected"),
    [
        (
            "https://github.com/open-horizon/examples/gps",
            "2.0.3",
            "amd64",
            "github.com-open-horizon-examples-gps_2.0.3_amd64",
        ),
        ("host:8080/x", "1", "arm64", "host:8080-x_1_arm64"),  # ':' survives, so does a port
        ("svc9920", "1.0", "amd64", "svc9920_1.0_amd64"),
        ("a+b.c-d://x", "1.0.0", "arm", "x_1.0.0_arm"),  # any scheme characters
        ("a_b://x", "1.0.0", "arm", "a_b:--x_1.0.0_arm"),  # '_' is not one
        ("ht tp://x", "1.0.0", "arm", "ht tp:--x_1.0.0_arm"),  # not a scheme: a space
        ("$!*,;/?@&~=%", "1.0.0", "s390x", "------------_1.0.0_s390x"),
        ("https://a/https://b", "1", "x", "a-https:--b_1_x"),  # only the first scheme goes
    ],
)
def test_service_id_examples(url: str, version: str, arch: str, expected: str) -> None:
    assert form_service_id("myorg", url, version, arch) == f"myorg/{expected}"


@given(st.text(alphabet=st.sampled_from(SCHEME_CHARS + TROUBLESOME + ":_ aé"), max_size=30))
def test_service_id_url_part_matches_oracle(url: str) -> None:
    assert url_part_of_id(url) == oracle_url_part(url)
    assert not set(TROUBLESOME) & set(url_part_of_id(url))


def oracle_version(text: str) -> tuple[int, int, int] | str | None:
    cleaned = text.strip("".join(chr(code) for code in range(33))).lower()
    if cleaned == "infinity":
        return "infinity"
    parts = cleaned.split(".")
    if 1 <= len(parts) <= 3 and all(part and all(c in "0123456789" for c in part) for part in parts):
        numbers = [int(part) for part in parts] + [0, 0]
        return None if max(numbers) > 2**31 - 1 else (numbers[0], numbers[1], numbers[2])
    return None


@given(st.text(alphabet=st.sampled_from("0123456789.-vINFinity \t\n٣"), max_size=12))
def test_version_parser_matches_oracle(text: str) -> None:
    parsed = Version.parse(text)
    expected = oracle_version(text)
    if expected is None:
        assert parsed is None
    elif expected == "infinity":
        assert parsed is not None
        assert parsed.infinity
    else:
        assert parsed is not None
        assert (parsed.major, parsed.minor, parsed.mod) == expected


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("1", True),
        ("1.2", True),
        ("1.2.3", True),
        (" INFINITY ", True),
        ("1.0.0-beta", False),
        ("v1", False),
        ("1.2.3.4", False),
        ("", False),
        ("1..2", False),
        ("٣", False),
        ("99999999999", False),
    ],
)
def test_version_validity(text: str, valid: bool) -> None:
    assert is_valid_version(text) is valid


versions = st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))


@given(versions, versions, versions, st.booleans(), st.booleans())
def test_range_includes_matches_tuple_comparison(
    low: tuple[int, int, int], high: tuple[int, int, int], probe: tuple[int, int, int], low_in: bool, high_in: bool
) -> None:
    text = f"{'[' if low_in else '('}{'.'.join(map(str, low))}, {'.'.join(map(str, high))}{']' if high_in else ')'}"
    expected = (probe >= low if low_in else probe > low) and (probe <= high if high_in else probe < high)
    assert version_in_range(".".join(map(str, probe)), text) is expected


@pytest.mark.parametrize(
    ("version", "version_range", "inside"),
    [
        ("2.0.0", "1.0.0", True),  # a bare version means [1.0.0,infinity)
        ("0.9", "1.0.0", False),
        ("5.0.0", "[1.0.0,INFINITY)", True),
        ("1.0.0", "(1.0.0,2.0.0]", False),
        ("2.0.0", "(1.0.0,2.0.0]", True),
        ("1.0.0", "", False),  # an empty range is invalid
        ("1.0.0", "1.0.0,", True),  # Java's split drops the trailing empty part
        ("1.0.0", ",", False),
        ("1.0.0", "[1.0.0,2.0.0,3.0.0]", False),
    ],
)
def test_range_examples(version: str, version_range: str, inside: bool) -> None:
    assert version_in_range(version, version_range) is inside


def test_single_version_range() -> None:
    assert VersionRange.parse("[1.0.0,1.0.0]").single_version() == Version(1, 0, 0)
    assert VersionRange.parse("[1.0.0,2.0.0)").single_version() is None


plain = st.text(alphabet=st.sampled_from("ab.-/x"), max_size=8)


@given(plain, plain)
def test_like_without_wildcards_is_equality(pattern: str, text: str) -> None:
    assert like(pattern, text) is (pattern == text)


@given(plain, plain, plain)
def test_like_percent_is_substring(needle: str, before: str, after: str) -> None:
    assert like(f"%{needle}%", before + needle + after)
    assert like(f"%{needle}%", before + after) is (needle in before + after)


def test_like_underscore_and_escape() -> None:
    assert like("a_c", "abc")
    assert not like("a_c", "ac")
    assert like("a\\_c", "a_c")
    assert not like("a\\_c", "abc")


RECORD = Record(
    "x.Body",
    {"name": string_field(), "flag": boolean(primitive=True), "tags": list_of(string_field())},
    required=("name",),
)


@given(st.one_of(st.text(max_size=5), st.integers(-(10**6), 10**6), st.booleans()))
def test_scalars_coerce_into_string_fields(value: object) -> None:
    decoded = RECORD({"name": value})
    assert decoded is not None
    expected = ("true" if value else "false") if isinstance(value, bool) else str(value)
    assert decoded["name"] == expected
    assert decoded["flag"] is False  # a missing primitive Boolean is false


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"name": {"a": 1}}, "Cannot deserialize value of type `java.lang.String` from Object value"),
        ({"name": "n", "extra": 1}, 'Unrecognized field "extra" (class x.Body), not marked as ignorable'),
        ({"flag": True}, "Cannot construct instance of `x.Body`, problem: requirement failed"),
        (
            {"name": "n", "tags": "one"},
            "Cannot deserialize value of type `scala.collection.immutable.List` from String",
        ),
        ({"name": "n", "flag": "maybe"}, "Cannot deserialize value of type `boolean` from String value"),
    ],
)
def test_binding_refusals(document: dict[str, object], message: str) -> None:
    with pytest.raises(BodyError, match=re.escape(message)):
        RECORD(document)


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_instant_format_round_trips(epoch_ns: int) -> None:
    text = format_instant(epoch_ns)
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{3}|\d{6}|\d{9}))?Z", text)
    assert match is not None
    fraction = (match.group(2) or "").ljust(9, "0")
    assert not (match.group(2) or "").endswith("000")  # Instant drops trailing zero groups
    seconds = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC).timestamp()
    assert int(seconds) * 10**9 + int(fraction) == epoch_ns


@pytest.mark.parametrize(
    ("value", "text"), [(1234, "1,234"), (7, "7"), (None, "null"), (Opt("1.0.0"), "Some(1.0.0)"), (Opt(None), "None")]
)
def test_message_format_arguments(value: object, text: str) -> None:
    assert java_arg(value) == text
