"""ICR ``GET /api/v1/images``: listing from the pluggable source, filtered by namespace and account."""

from __future__ import annotations

from typing import Any

import pytest
from tests.emulators.ibmcloud.conftest import ALICE, ALICE_KEY, BOB, BOB_KEY, IbmCloud

from horizon_publisher.sandbox.ibmcloud import ImageRow

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
DIGEST_C = "sha256:" + "c" * 64


@pytest.fixture
def stocked(ibmcloud: IbmCloud) -> IbmCloud:
    alice, bob = ibmcloud.token(ALICE_KEY), ibmcloud.token(BOB_KEY)
    for namespace in ("edge-one", "edge-two"):
        ibmcloud.call("PUT", f"/api/v1/namespaces/{namespace}", token=alice, account=ALICE.account_id)
    ibmcloud.call("PUT", "/api/v1/namespaces/bob-space", token=bob, account=BOB.account_id)
    ibmcloud.images.extend(
        [
            ImageRow("edge-one/web_amd64", "1.0.0", DIGEST_A),
            ImageRow("edge-one/web_amd64", "latest", DIGEST_A),
            ImageRow("edge-one/web_arm64", "1.0.0", DIGEST_B),
            ImageRow("edge-two/db_amd64", "2.1", DIGEST_C),
            ImageRow("bob-space/secret_amd64", "1", DIGEST_C),
            ImageRow("nobody-ns/orphan", "1", DIGEST_C),
        ]
    )
    return ibmcloud


def _images(cloud: IbmCloud, key: str, account: str, **params: Any) -> list[dict[str, Any]]:
    response = cloud.call("GET", "/api/v1/images", token=cloud.token(key), account=account, params=params)
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed


def test_one_entry_per_digest_with_host_qualified_tags_and_digests(stocked: IbmCloud) -> None:
    images = _images(stocked, ALICE_KEY, ALICE.account_id, namespace="edge-one")

    assert [image["RepoTags"] for image in images] == [
        ["us.icr.io/edge-one/web_amd64:1.0.0", "us.icr.io/edge-one/web_amd64:latest"],
        ["us.icr.io/edge-one/web_arm64:1.0.0"],
    ]
    assert images[0]["RepoDigests"] == [f"us.icr.io/edge-one/web_amd64@{DIGEST_A}"]
    assert images[0]["Id"] == DIGEST_A
    for field in ("Created", "Size", "ManifestType", "Labels", "Vulnerable", "IssueCount"):
        assert field in images[0]


@pytest.mark.parametrize(
    ("key", "account", "namespaces", "expected_repositories"),
    [
        (ALICE_KEY, ALICE.account_id, ["edge-two"], ["edge-two/db_amd64"]),
        (
            ALICE_KEY,
            ALICE.account_id,
            ["edge-one", "edge-two"],
            ["edge-one/web_amd64", "edge-one/web_arm64", "edge-two/db_amd64"],
        ),
        (ALICE_KEY, ALICE.account_id, [], ["edge-one/web_amd64", "edge-one/web_arm64", "edge-two/db_amd64"]),
        (ALICE_KEY, ALICE.account_id, ["bob-space"], []),  # another account's namespace shows nothing
        (ALICE_KEY, ALICE.account_id, ["nobody-ns"], []),
        (BOB_KEY, BOB.account_id, [], ["bob-space/secret_amd64"]),
    ],
)
def test_listing_is_filtered_by_namespace_and_account(
    stocked: IbmCloud, key: str, account: str, namespaces: list[str], expected_repositories: list[str]
) -> None:
    images = _images(stocked, key, account, namespace=namespaces)

    repositories = [tag.split("/", 1)[1].rsplit(":", 1)[0] for image in images for tag in image["RepoTags"][:1]]
    assert repositories == expected_repositories


def test_repository_filter(stocked: IbmCloud) -> None:
    images = _images(stocked, ALICE_KEY, ALICE.account_id, repository="edge-one/web_arm64")

    assert [image["Id"] for image in images] == [DIGEST_B]


def test_source_is_read_on_every_request(stocked: IbmCloud) -> None:
    assert _images(stocked, ALICE_KEY, ALICE.account_id, namespace="edge-two")[0]["RepoTags"] == [
        "us.icr.io/edge-two/db_amd64:2.1"
    ]
    stocked.images.append(ImageRow("edge-two/db_amd64", "2.2", DIGEST_B))

    tags = [image["RepoTags"] for image in _images(stocked, ALICE_KEY, ALICE.account_id, namespace="edge-two")]
    assert ["us.icr.io/edge-two/db_amd64:2.2"] in tags


def test_registry_host_is_configurable(ibmcloud_factory: Any) -> None:
    cloud = ibmcloud_factory(registry_host="de.icr.io", namespaces={"edge-de": ALICE.account_id})
    cloud.images.append(ImageRow("edge-de/app", "1", DIGEST_A))

    assert _images(cloud, ALICE_KEY, ALICE.account_id)[0]["RepoTags"] == ["de.icr.io/edge-de/app:1"]
