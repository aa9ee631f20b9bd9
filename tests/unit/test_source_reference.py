"""spec.image.source.reference parsing: Docker's normalisation, {arch}, and refusal of everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.source_reference import credential_keys, parse_source_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "arch", "expected"),
    [
        ("app:1.0", None, ("docker.io", "registry-1.docker.io", "library/app", "1.0", None)),
        ("team/app:1.0", None, ("docker.io", "registry-1.docker.io", "team/app", "1.0", None)),
        ("docker.io/app:1", None, ("docker.io", "registry-1.docker.io", "library/app", "1", None)),
        ("quay.io/team/app_{arch}:2.1", "arm64", ("quay.io", "quay.io", "team/app_arm64", "2.1", None)),
        ("localhost:5000/a/b:x", None, ("localhost:5000", "localhost:5000", "a/b", "x", None)),
        ("127.0.0.1:8443/x@" + DIGEST, None, ("127.0.0.1:8443", "127.0.0.1:8443", "x", None, DIGEST)),
        ("r.example/x:1@" + DIGEST, None, ("r.example", "r.example", "x", "1", DIGEST)),
        ("localhost/app:1", None, ("localhost", "localhost", "app", "1", None)),
    ],
)
def test_parses_and_normalises(text: str, arch: str | None, expected: tuple[object, ...]) -> None:
    parsed = parse_source_reference(text, arch)
    assert (parsed.host, parsed.api_host, parsed.repository, parsed.tag, parsed.digest) == expected


def test_the_digest_wins_over_the_tag() -> None:
    assert parse_source_reference("r.example/x:1@" + DIGEST).reference == DIGEST
    assert parse_source_reference("r.example/x:1").reference == "1"


@pytest.mark.parametrize(
    ("text", "arch", "message"),
    [
        ("quay.io/x_{arch}:1", None, "PerArchRepository"),
        ("quay.io/x", None, "neither a tag nor a digest"),
        ("quay.io/UPPER:1", None, "not an image reference"),
        ("quay.io/../etc:1", None, "not an image reference"),
        ("https://quay.io/x:1", None, "not an image reference"),
        ("quay.io/x:1@sha256:short", None, "not an image reference"),
        ("r.example:99999/x:1", None, "invalid port"),
        ("quay.io/x:1 ", None, "not an image reference"),
        ("quay.io/x:1?q=2", None, "not an image reference"),
    ],
)
def test_refuses_with_a_message(text: str, arch: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_source_reference(text, arch)


def test_docker_hub_credentials_are_looked_up_under_its_config_keys() -> None:
    assert credential_keys(parse_source_reference("app:1"))[0] == "https://index.docker.io/v1/"
    assert credential_keys(parse_source_reference("r.example:5000/app:1")) == (
        "r.example:5000",
        "https://r.example:5000",
    )


@given(st.text(max_size=80), st.sampled_from([None, "amd64", "arm"]))
def test_any_text_parses_or_raises_value_error(text: str, arch: str | None) -> None:
    try:
        parsed = parse_source_reference(text, arch)
    except ValueError:
        return
    assert "{arch}" not in parsed.repository
    assert parsed.tag or parsed.digest
    assert "/" not in parsed.api_host
    assert " " not in str(parsed)


components = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)


@given(
    st.sampled_from(["quay.io", "r.example:5000", "localhost:1"]),
    st.lists(components, min_size=1, max_size=3),
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True),
)
def test_round_trips_through_its_text(host: str, path: list[str], tag: str) -> None:
    text = f"{host}/{'/'.join(path)}:{tag}"
    parsed = parse_source_reference(text)
    assert str(parsed) == text
    assert parse_source_reference(str(parsed)) == parsed
