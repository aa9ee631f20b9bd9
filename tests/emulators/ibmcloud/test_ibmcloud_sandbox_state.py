"""The sandbox IBM Cloud's persisted state, its storage-backed image listing and the router's names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from horizon_publisher.sandbox import pki as pki_module
from horizon_publisher.sandbox.ibmcloud import ImageRow
from horizon_publisher.sandbox.ibmcloud_state import NamespaceStore, ensure_seed, ensure_signing_key, load_seed
from horizon_publisher.sandbox.ibmcloud_storage import REPOSITORIES, storage_images
from horizon_publisher.sandbox.pki import ensure_pki


def digest(text: str) -> str:
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def write_tag(storage: Path, repository: str, tag: str, link: str) -> None:
    current = storage / REPOSITORIES / repository / "_manifests" / "tags" / tag / "current"
    current.mkdir(parents=True)
    (current / "link").write_text(link)


def test_storage_listing_reads_tag_links(tmp_path: Path) -> None:
    write_tag(tmp_path, "ns/app_amd64", "1.0", digest("a"))
    write_tag(tmp_path, "ns/app_amd64", "latest", digest("a"))
    write_tag(tmp_path, "ns/team/deep", "v2", digest("b"))
    write_tag(tmp_path, "ns/app_amd64/nested", "x", digest("c"))  # a repository inside another one
    write_tag(tmp_path, "other/x", "broken", "not-a-digest")
    (tmp_path / REPOSITORIES / "ns" / "untagged" / "_manifests" / "revisions").mkdir(parents=True)
    (tmp_path / REPOSITORIES / "ns" / "app_amd64" / "_uploads" / "abc").mkdir(parents=True)
    (tmp_path / REPOSITORIES / "ns" / "app_amd64" / "_manifests" / "tags" / "gone").mkdir()  # being deleted
    assert storage_images(tmp_path) == [
        ImageRow("ns/app_amd64", "1.0", digest("a")),
        ImageRow("ns/app_amd64", "latest", digest("a")),
        ImageRow("ns/app_amd64/nested", "x", digest("c")),
        ImageRow("ns/team/deep", "v2", digest("b")),
    ]


def test_storage_listing_of_an_empty_registry(tmp_path: Path) -> None:
    assert storage_images(tmp_path / "nothing-yet") == []


_component = st.from_regex(r"[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,4})?", fullmatch=True)
_repository = st.lists(_component, min_size=2, max_size=3).map("/".join)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.tuples(_repository, _tag), st.text(min_size=1, max_size=5), max_size=6))
def test_storage_listing_round_trips(
    tmp_path_factory: pytest.TempPathFactory, tags: dict[tuple[str, str], str]
) -> None:
    storage = tmp_path_factory.mktemp("storage")
    for (repository, tag), content in tags.items():
        write_tag(storage, repository, tag, digest(content) + "\n")
    expected = sorted(ImageRow(repository, tag, digest(content)) for (repository, tag), content in tags.items())
    assert storage_images(storage) == expected


def test_seed_is_made_once_and_private(tmp_path: Path) -> None:
    seed = ensure_seed(tmp_path / "ibmcloud")
    path = tmp_path / "ibmcloud" / "seed.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_seed(tmp_path / "ibmcloud") == seed == load_seed(tmp_path / "ibmcloud")
    raw = json.loads(path.read_text())
    assert raw["apiKey"] == seed.api_key
    assert raw["otherAccountNamespace"] == "taken-by-other"
    assert raw["registryHost"] == "us.icr.io"
    assert seed.account_id != seed.other_account_id
    assert seed.api_key != seed.other_api_key
    assert len(seed.api_key) >= 40
    assert seed.api_key not in repr(seed)
    assert seed.other_api_key not in repr(seed)
    identities = seed.api_keys()
    assert identities[seed.api_key].account_id == seed.account_id
    assert identities[seed.other_api_key].account_id == seed.other_account_id


def test_namespace_store_survives_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "namespaces.json"
    assert NamespaceStore(path).load() == {}
    store = NamespaceStore(path)
    store.record("first", "account-1")
    store.record("second", "account-2")
    assert NamespaceStore(path).load() == {"first": "account-1", "second": "account-2"}
    path.write_text("{not json")
    assert NamespaceStore(path).load() == {}


def test_iam_signing_key_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "iam-signing.key"
    key = ensure_signing_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_signing_key(path).private_numbers() == key.private_numbers()


def _router_sans(pki: pki_module.SandboxPKI) -> set[str]:
    leaf = x509.load_pem_x509_certificates(pki.router_cert.read_bytes())[0]
    return {str(name.value) for name in leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


def test_router_certificate_names_ibm_cloud_hosts(tmp_path: Path) -> None:
    names = _router_sans(ensure_pki(tmp_path))
    assert {"us.icr.io", "icr.io", "*.icr.io", "iam.cloud.ibm.com", "127.0.0.1"} <= names


def test_a_pki_without_the_ibm_cloud_names_is_made_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = pki_module._router_names
    monkeypatch.setattr(
        pki_module,
        "_router_names",
        lambda domain: [n for n in original(domain) if str(n.value) not in pki_module.IBM_CLOUD_NAMES],
    )
    old = ensure_pki(tmp_path)
    old_ca = old.ca_cert.read_bytes()
    assert not _router_sans(old) & set(pki_module.IBM_CLOUD_NAMES)
    monkeypatch.setattr(pki_module, "_router_names", original)
    renewed = ensure_pki(tmp_path)
    assert set(pki_module.IBM_CLOUD_NAMES) <= _router_sans(renewed)
    assert renewed.ca_cert.read_bytes() != old_ca
