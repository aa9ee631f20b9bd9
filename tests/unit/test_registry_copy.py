"""The image copy's pure parts: endpoint URLs, manifest walking, platform matching, upload ranges."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher.clients.registry_blobs import _range_end, _range_start
from horizon_publisher.clients.registry_copy import _platform_child
from horizon_publisher.clients.registry_model import (
    Descriptor,
    RegistryEndpoint,
    RegistryError,
    arch_matches,
    config_platform,
    index_children,
    manifest_blobs,
)

D = {n: f"sha256:{n * 64}" for n in "0123456789abcdef"}
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@pytest.mark.parametrize(
    ("host", "url", "base"),
    [
        ("registry.example.com", None, "https://registry.example.com"),
        ("registry.example.com:5000", None, "https://registry.example.com:5000"),
        ("route.apps.example", "https://127.0.0.1:41234", "https://127.0.0.1:41234"),
        ("route.apps.example", "https://127.0.0.1:41234/", "https://127.0.0.1:41234"),
        ("r.example", "https://[::1]:5000", "https://[::1]:5000"),
    ],
)
def test_endpoint_base_url(host: str, url: str | None, base: str) -> None:
    assert RegistryEndpoint(host, url=url).base_url == base


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",  # https only
        "https://user:pw@127.0.0.1:5000",
        "https://127.0.0.1:5000/v2",
        "https://127.0.0.1:5000?x=1",
        "https://127.0.0.1:99999",
        "https://",
        "127.0.0.1:5000",
    ],
)
def test_endpoint_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="registry URL"):
        RegistryEndpoint("r.example", url=url)


def _manifest(*layers: dict[str, Any], config: dict[str, Any] | None = None) -> bytes:
    config = config or {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D["c"], "size": 7}
    return json.dumps({"schemaVersion": 2, "config": config, "layers": list(layers)}).encode()


def test_manifest_blobs_keep_order_and_skip_foreign_layers() -> None:
    body = _manifest(
        {"mediaType": LAYER, "digest": D["1"], "size": 10},
        {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": D["2"], "size": 5,
         "urls": ["https://example/x"]},
        {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": D["3"], "size": 5},
        {"mediaType": LAYER, "digest": D["4"], "size": 0, "urls": ["https://example/y"]},
        {"mediaType": LAYER, "digest": D["5"], "size": 3},
    )  # fmt: skip
    assert [(b.digest, b.size) for b in manifest_blobs(body)] == [(D["c"], 7), (D["1"], 10), (D["5"], 3)]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(),  # schema 1
        _manifest(config={"digest": "not a digest", "size": 1}),
        _manifest(config={"digest": D["c"], "size": -1}),
        _manifest(config={"digest": D["c"], "size": True}),
        _manifest({"digest": D["1"]}),  # no size
        json.dumps({"schemaVersion": 2, "config": {"digest": D["c"], "size": 1}, "layers": {}}).encode(),
    ],
)
def test_unusable_manifests(body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        manifest_blobs(body)


def test_index_children_keep_every_entry() -> None:
    body = json.dumps({
        "manifests": [
            {"digest": D["1"], "size": 5, "mediaType": "m",
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"digest": D["2"], "size": 6, "platform": {"architecture": "unknown", "os": "unknown"}},  # attestation
            {"digest": D["3"], "size": 7},
        ]
    }).encode()  # fmt: skip
    assert index_children(body) == [
        Descriptor(D["1"], 5, "m", "arm64"),
        Descriptor(D["2"], 6, "", None),
        Descriptor(D["3"], 7, "", None),
    ]


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_walkers_raise_only_value_error(document: Any) -> None:  # fmt: skip
    body = json.dumps(document).encode()
    for walk in (manifest_blobs, index_children):
        with contextlib.suppress(ValueError):
            walk(body)


@pytest.mark.parametrize(
    ("wanted", "key", "matches"),
    [
        ("amd64", "amd64", True),
        ("arm64", "arm64", True),
        ("arm64/v8", "arm64", True),
        ("arm", "arm/v7", True),
        ("arm", "arm/v6", True),
        ("arm/v7", "arm/v6", False),
        ("arm", "arm64", False),
        ("amd64", None, False),
        ("AMD64", "amd64", True),
    ],
)
def test_arch_matches(wanted: str, key: str | None, matches: bool) -> None:
    assert arch_matches(wanted, key) is matches


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"architecture": "arm", "os": "linux", "variant": "v7"}, "arm/v7"),
        ({"architecture": "arm64", "os": "linux", "variant": "v8"}, "arm64"),
        ({"architecture": "amd64", "os": "windows"}, None),
        ([], None),
    ],
)
def test_config_platform(config: Any, key: str | None) -> None:
    assert config_platform(json.dumps(config).encode()) == key
    assert config_platform(b"\xff") is None


@pytest.mark.parametrize(
    ("platforms", "wanted", "digest"),
    [
        ({"amd64": D["1"], "arm64": D["2"]}, "arm64", D["2"]),
        ({"amd64": D["1"], "arm/v7": D["2"]}, "arm", D["2"]),
        ({"arm/v6": D["1"], "arm/v7": D["2"]}, "arm/v7", D["2"]),
        ({"arm/v6": D["1"], "arm/v7": D["2"]}, "arm", None),  # ambiguous
        ({"amd64": D["1"]}, "s390x", None),
    ],
)
def test_platform_child(platforms: dict[str, str], wanted: str, digest: str | None) -> None:
    if digest is not None:
        assert _platform_child(platforms, wanted, "r/x:1") == digest
        return
    with pytest.raises(RegistryError) as caught:
        _platform_child(platforms, wanted, "r/x:1")
    assert caught.value.reason == "PlatformMismatch"
    assert "r/x:1" in caught.value.message


@pytest.mark.parametrize(
    ("header", "end"),
    [("0-99", 99), ("0-0", 0), ("0--1", -1), ("bytes=0-5", 5), ("5-9", None), ("", None), ("0-x", None)],
)
def test_upload_range_end(header: str, end: int | None) -> None:
    assert _range_end(header) == end


@pytest.mark.parametrize(
    ("header", "start"), [("bytes 100-199/200", 100), ("bytes 0-0/1", 0), ("bytes */200", None), ("items 1-2/3", None)]
)
def test_content_range_start(header: str, start: int | None) -> None:
    assert _range_start(header) == start
