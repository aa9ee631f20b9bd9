"""Parsers of the registry side: token scopes, repository names, WWW-Authenticate challenges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.sandbox.images import parse_challenge, split_platform
from horizon_publisher.sandbox.registry_auth import Scope, parse_scopes, project_and_name

segment = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)*", fullmatch=True)
names = st.lists(segment, min_size=1, max_size=3).map("/".join)
hosts = st.sampled_from(["", "127.0.0.1:5000/", "registry.test/"])
actions = st.lists(st.sampled_from(["pull", "push", "delete", "*"]), min_size=1, max_size=3, unique=True)
scopes = st.builds(
    Scope,
    type=st.sampled_from(["repository", "registry"]),
    name=st.builds(str.__add__, hosts, names),
    actions=actions.map(tuple),
)


@given(scopes)
def test_scope_round_trip(scope: Scope) -> None:
    assert Scope.parse(str(scope)) == scope


@given(st.lists(scopes, max_size=4))
def test_several_scopes_in_one_value_or_many(items: list[Scope]) -> None:
    assert parse_scopes([" ".join(map(str, items))]) == items
    assert parse_scopes([str(item) for item in items]) == items


@pytest.mark.parametrize("text", ["", "repository", "repository:demo", ":demo/web:pull", "repository::pull"])
def test_malformed_scopes(text: str) -> None:
    with pytest.raises(ValueError, match="malformed scope"):
        Scope.parse(text)


def test_scope_with_a_port_in_the_name() -> None:
    assert Scope.parse("repository:127.0.0.1:5000/demo/web:pull,push") == Scope(
        "repository", "127.0.0.1:5000/demo/web", ("pull", "push")
    )


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("demo/web", ("demo", "web")),
        ("my-project/web.app_v2", ("my-project", "web.app_v2")),
        ("demo/web/extra", None),
        ("web", None),
        ("/web", None),
        ("demo/", None),
        ("Demo/web", None),
        ("-demo/web", None),
        ("demo/../web", None),
        ("../../etc/passwd", None),
    ],
)
def test_project_and_name(repository: str, expected: tuple[str, str] | None) -> None:
    assert project_and_name(repository) == expected


# Quoted-string values; a quote inside is escaped as \" (backslashes themselves are left out).
quoted_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"), max_size=30
)


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), quoted_value, max_size=4))
def test_challenge_round_trip(params: dict[str, str]) -> None:
    escaped = {key: value.replace('"', '\\"') for key, value in params.items()}
    header = "Bearer " + ",".join(f'{key}="{value}"' for key, value in escaped.items())
    assert parse_challenge(header) == ("bearer", params)


def test_registry_challenge() -> None:
    header = 'Bearer realm="https://127.0.0.1:1/openshift/token",service="svc",scope="repository:a/b:pull,push",error="insufficient_scope"'
    assert parse_challenge(header) == (
        "bearer",
        {
            "realm": "https://127.0.0.1:1/openshift/token",
            "service": "svc",
            "scope": "repository:a/b:pull,push",
            "error": "insufficient_scope",
        },
    )
    assert parse_challenge('Basic realm="openshift"') == ("basic", {"realm": "openshift"})
    assert parse_challenge("") == ("", {})


@pytest.mark.parametrize(
    ("arch", "platform"),
    [
        ("amd64", {"architecture": "amd64", "os": "linux"}),
        ("arm/v7", {"architecture": "arm", "os": "linux", "variant": "v7"}),
        ("arm64/v8", {"architecture": "arm64", "os": "linux", "variant": "v8"}),
    ],
)
def test_split_platform(arch: str, platform: dict[str, str]) -> None:
    assert split_platform(arch) == platform
