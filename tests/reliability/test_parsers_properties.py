"""Properties of every parser that reads outside input, beyond what tests/unit already proves.

Already in tests/unit (not repeated): source references raise only ValueError and round-trip with a host
(test_source_reference), service ids agree with the emulator and hold no troublesome character
(test_exchange_client_units), substitution raises only HorizonFilesError and replaces every reference form
(test_horizon_files), WWW-Authenticate raises only ValueError and round-trips quoted params
(test_registry_client_parsing), manifest walkers raise only ValueError (test_registry_copy).

Here: normalisation idempotence and URL safety of image references, service ids as one path segment that
gives back version and arch, ``os.Expand`` semantics against a model of Go's implementation, Exchange error
bodies (never raise, bounded, no credential echoed), WWW-Authenticate re-serialisation, case folding,
hostile sizes and no echo of header text in errors.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from horizon_publisher.clients.exchange_http import path_of
from horizon_publisher.clients.exchange_model import (
    form_exchange_id,
    service_id,
    url_part_of_id,
)
from horizon_publisher.clients.registry_model import (
    HOST,
    REPOSITORY,
    Manifest,
    RegistryEndpoint,
    RegistryError,
    check_base_url,
    check_repository_and_reference,
    index_platforms,
    normalize_arch,
    platform_key,
    reference_text,
)
from horizon_publisher.horizon_files import HorizonFilesError, substitute
from horizon_publisher.source_reference import parse_source_reference

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ARCHES = ("amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64")

# --- image references ------------------------------------------------------------------------------------

component = st.from_regex(r"[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}", fullmatch=True)
hosts = st.sampled_from(["quay.io", "r.example:5000", "localhost", "localhost:1", "docker.io", "index.docker.io"])
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True)
digests = st.binary(min_size=32, max_size=32).map(lambda raw: "sha256:" + raw.hex())


@st.composite
def references(draw: st.DrawFn) -> str:
    host = draw(st.none() | hosts)
    path = "/".join(draw(st.lists(component, min_size=1, max_size=3)))
    tag, digest = draw(st.none() | tags), draw(st.none() | digests)
    if tag is None and digest is None:
        tag = "latest"
    return (f"{host}/" if host else "") + path + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


@SETTINGS
@given(references())
def test_a_parsed_reference_is_a_fixed_point_of_its_own_text(text: str) -> None:
    parsed = parse_source_reference(text)
    again = parse_source_reference(str(parsed))
    assert again == parsed  # Docker Hub short names normalise once (library/, docker.io) and then stay
    assert str(again) == str(parsed)


@SETTINGS
@given(st.text(max_size=60), st.sampled_from(ARCHES))
@example("quay.io/team/svc_{arch}:1.0", "arm64")
@example("quay.io/{arch}/../x:1", "amd64")
def test_parsed_references_are_safe_in_registry_urls(text: str, arch: str) -> None:
    try:
        parsed = parse_source_reference(text, arch)
    except ValueError:
        return
    assert HOST.fullmatch(parsed.api_host), parsed.api_host
    assert REPOSITORY.fullmatch(parsed.repository), parsed.repository
    assert not {".", ".."} & set(parsed.repository.split("/")), "a path segment walks the registry's URL space"
    check_repository_and_reference(parsed.repository, parsed.reference)  # the client accepts what we parsed


@SETTINGS
@given(st.none() | hosts, st.lists(component, min_size=1, max_size=3), st.integers(0, 2), tags, st.sampled_from(ARCHES))
def test_arch_placeholder_is_plain_text_replacement(
    host: str | None, path: list[str], where: int, tag: str, arch: str
) -> None:
    path[min(where, len(path) - 1)] += "_{arch}"
    templated = (f"{host}/" if host else "") + "/".join(path) + f":{tag}"
    assert parse_source_reference(templated, arch) == parse_source_reference(templated.replace("{arch}", arch))
    with pytest.raises(ValueError, match="PerArchRepository"):
        parse_source_reference(templated)


@SETTINGS
@given(st.text(max_size=40), st.text(max_size=80))
@example("a/../b", "latest")
@example("a", "../../v2/_catalog")
def test_repository_checks_keep_urls_in_the_v2_api(repository: str, reference: str) -> None:
    try:
        check_repository_and_reference(repository, reference)
    except ValueError:
        return
    path = f"/v2/{repository}/manifests/{reference}"
    assert not re.search(r"[\s?#%\\]|/\.\.?(/|$)", path), path


@SETTINGS
@given(st.text(max_size=40))
def test_registry_hosts_and_base_urls_raise_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        endpoint = RegistryEndpoint(host=text)
        assert "/" not in endpoint.host
        assert "@" not in endpoint.host
    try:
        check_base_url(text)
    except ValueError:
        return
    assert text.startswith("https://")
    assert "@" not in text
    assert "?" not in text
    assert "#" not in text


@SETTINGS
@given(st.text(max_size=20))
def test_arch_normalisation_is_idempotent(arch: str) -> None:
    assert normalize_arch(normalize_arch(arch)) == normalize_arch(arch)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["os", "architecture", "variant", "x"]), json_values, max_size=4))
def test_platform_key_never_raises(platform: dict[str, object]) -> None:
    key = platform_key(platform)
    assert key is None or (platform.get("os") == "linux" and key == normalize_arch(key))


@SETTINGS
@given(st.binary(max_size=200) | json_values.map(lambda v: repr(v).encode()))
def test_index_bodies_raise_only_value_error(body: bytes) -> None:
    with contextlib.suppress(ValueError):
        _, platforms = index_platforms(body)
        manifest = Manifest("sha256:" + "0" * 64, "application/vnd.oci.image.index.v1+json", platforms)
        for arch in ARCHES:
            with contextlib.suppress(RegistryError):
                manifest.digest_for_arch(arch, "r.example/x:1")


@SETTINGS
@given(
    st.sampled_from(["quay.io", "r.example:5000"]), st.from_regex(REPOSITORY.pattern, fullmatch=True), tags | digests
)
def test_reference_text_round_trips(host: str, repository: str, reference: str) -> None:
    text = reference_text(host, repository, reference)
    separator = "@" if reference.startswith("sha256:") else ":"
    assert text == f"{host}/{repository}{separator}{reference}"


# --- Exchange service ids ----------------------------------------------------------------------------------

CRD_URL = r"([a-z][a-z0-9+.-]*://)?[A-Za-z0-9]([A-Za-z0-9._~:/-]{0,40}[A-Za-z0-9])?"
CRD_VERSION = r"[0-9]{1,9}(\.[0-9]{1,9}){0,2}"


@SETTINGS
@given(st.text(max_size=60))
def test_id_formation_is_idempotent(url: str) -> None:
    assert url_part_of_id(url_part_of_id(url)) == url_part_of_id(url)
    assert form_exchange_id(form_exchange_id(url)) == form_exchange_id(url)


@SETTINGS
@given(
    st.from_regex(CRD_URL, fullmatch=True),
    st.from_regex(CRD_VERSION, fullmatch=True),
    st.sampled_from(ARCHES),
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._@-]{0,10}[A-Za-z0-9])?", fullmatch=True),
)
@example("https://h.example/../../orgs/IBM/x", "1.0.0", "amd64", "myorg")
def test_service_id_of_valid_spec_is_one_path_segment_that_gives_back_version_and_arch(
    url: str, version: str, arch: str, org: str
) -> None:
    sid = service_id(url, version, arch)
    path = path_of("orgs", org, "services", sid)
    segments = path.split("/")[1:]
    assert len(segments) == 4, path
    assert unquote(segments[3]) == sid
    assert unquote(segments[1]) == org
    assert sid not in (".", "..")
    assert sid.rsplit("_", 2)[1:] == [version, arch]


# --- hzn.json substitution: Go's os.Expand ----------------------------------------------------------------

_GO_SPECIAL = set("*#$@!?-0123456789")
_GO_ALNUM = set("_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _go_shell_name(s: str) -> tuple[str, int]:
    """A model of Go's os.getShellName, written from its documented behaviour."""
    if s[0] == "{":
        if len(s) > 2 and s[1] in _GO_SPECIAL and s[2] == "}":
            return s[1], 3
        close = s.find("}", 1)
        if close == -1:
            return "", 1  # unclosed "${": eaten
        return ("", 2) if close == 1 else (s[1:close], close + 1)
    if s[0] in _GO_SPECIAL:
        return s[0], 1
    end = 0
    while end < len(s) and s[end] in _GO_ALNUM:
        end += 1
    return s[:end], end


def go_expand(s: str, mapping: Callable[[str], str]) -> str:
    """A model of Go's os.Expand."""
    out, i, j = [], 0, 0
    while j < len(s):
        if s[j] == "$" and j + 1 < len(s):
            out.append(s[i:j])
            name, width = _go_shell_name(s[j + 1 :])
            if name:
                out.append(mapping(name))
            elif width == 0:
                out.append("$")  # "$" before anything else stays
            j += width
            i = j + 1
        j += 1
    return "".join(out) + s[i:]


def names_asked(text: str) -> list[str]:
    """The names Go's os.Expand looks up in ``text``, in order."""
    asked: list[str] = []

    def record(name: str) -> str:
        asked.append(name)
        return ""

    go_expand(text, record)
    return asked


expand_text = st.text(alphabet="$${}_aZ9*#@!?- .x\n", max_size=40)
SECRET_VALUE = "s3cr3t-VALUE-never-echoed"


@SETTINGS
@given(expand_text, st.text(alphabet="ab$}{ ", max_size=6))
@example("${}x${", "v")
@example("$$${1}${*}", "v")
def test_substitution_is_go_os_expand(text: str, value: str) -> None:
    asked = names_asked(text)
    variables = {name: f"{value}{len(name)}" for name in asked}
    assert substitute(text, variables) == go_expand(text, variables.__getitem__)


@SETTINGS
@given(expand_text)
def test_a_missing_variable_is_named_and_no_value_is_echoed(text: str) -> None:
    asked = names_asked(text)
    if not asked:
        return
    missing = asked[0]
    variables = {name: SECRET_VALUE for name in asked if name != missing}
    with pytest.raises(HorizonFilesError) as raised:
        substitute(text, variables)
    assert f'"{missing}"' in raised.value.message
    assert SECRET_VALUE not in raised.value.message
    assert raised.value.reason == "InvalidServiceDefinition"


def test_a_file_full_of_unset_variables_gives_a_short_message() -> None:
    text = " ".join(f"$V{i}" for i in range(50_000))
    started = time.monotonic()
    with pytest.raises(HorizonFilesError) as raised:
        substitute(text, {})
    assert time.monotonic() - started < 5  # not quadratic in the number of references
    assert len(raised.value.message) <= 4096
    assert '"V0"' in raised.value.message
    assert "and 49990 more" in raised.value.message
