"""EdgePublication end to end: the operator (kopf, all namespaces, 2 s resync) signs and publishes to the
sandbox's Exchange emulator what its EdgeServiceImages resolved, and ``horizon-publisher verify`` accepts it.

One private sandbox for the module; its API server grants 8 s tokens so that the rotation case rotates
quickly; every other image uses a LongLived token, which does not rotate. Every test has a namespace, an
image, a publication and a service url of its own, and reads the Exchange as the sandbox user does.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from horizon_publisher.signing import generate_signing_key, load_signing_key
from tests.e2e.conftest import wait_for
from tests.e2e.publication_cases import BAD_INPUT, arrange_bad_input, unrelated_service
from tests.e2e.publication_support import (
    LONG_LIVED,
    ROTATING,
    WRITES,
    ImageWanted,
    Publisher,
    ReadyImage,
    exchange_snapshot,
    pinned,
    publication,
    ready_images,
    service_url,
    sid_of,
    status_services,
    verified,
)
from tests.e2e.service_image_kube import Token, secret_path
from tests.e2e.service_image_support import (
    RESYNC_SECONDS,
    Cluster,
    cluster_with_operator,
    condition,
    describe_conditions,
    merged,
)

FINALIZER = "edge.horizon.dev/finalizer"
STEPS = ("ImageReady", "Signed", "ServicePublished", "KeyPublished", "CredentialsPublished", "CredentialsValid")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster_with_operator(tmp_path_factory.mktemp("publication"), max_token_seconds=8) as running:
        yield running


@pytest.fixture(scope="module")
def publisher(cluster: Cluster) -> Iterator[Publisher]:
    running = Publisher(cluster)
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def images(cluster: Cluster, publisher: Publisher) -> dict[str, ReadyImage]:
    """Every test's image, created together so they settle in parallel."""
    moving = merged(LONG_LIVED, {"image": {"followTag": True, "pollIntervalSeconds": 30}})
    wanted = [
        ImageWanted("ready", ("amd64", "arm64")),
        ImageWanted("idem"),
        ImageWanted("rotate", spec=ROTATING),
        ImageWanted("keyrot"),
        ImageWanted("moved", spec=moving),
        ImageWanted("delete"),
        ImageWanted("orphan"),
        ImageWanted("bad"),
        ImageWanted("waiting", push=False),
        ImageWanted("files", ("amd64", "arm64")),
    ]
    made = ready_images(cluster, wanted)
    for image in made.values():
        publisher.prepare(image.namespace)
    return made


def _apply(publisher: Publisher, manifest: dict[str, Any]) -> tuple[str, str]:
    publisher.cluster.apply(manifest)
    return manifest["metadata"]["namespace"], manifest["metadata"]["name"]


# --- 1. publish, pinned, verified -------------------------------------------------------------------


def test_publication_signs_and_publishes_pinned_services(publisher: Publisher, images: dict[str, ReadyImage]) -> None:
    image, url = images["ready"], service_url("ready")
    pattern_name = f"pattern-{url.rsplit('.', 1)[1]}"
    spec = {"pattern": {"name": pattern_name, "userInput": [{"inputs": [{"name": "HW_WHO", "value": "Edge"}]}]}}
    namespace, name = _apply(
        publisher, publication("hello", image.namespace, publisher.endpoints, url=url, arches=image.arches, spec=spec)
    )
    ready = publisher.wait_ready(namespace, name)
    esi = publisher.cluster.esi(image.namespace, image.name) or {}
    esi_digests = {i["arch"]: i["digest"] for i in esi["status"]["images"]}
    for arch in image.arches:
        registry_digest = publisher.cluster.resolve(image.auth, image.repository(arch), "1.0.0", ca=image.ca)
        assert registry_digest == image.digests[arch] == esi_digests[arch]

    service_ids = [sid_of(url, arch) for arch in image.arches]
    statuses = status_services(ready)
    assert sorted(statuses) == sorted(image.arches)
    key_id = ready["status"]["signing"]["keyId"]
    for arch, sid in zip(image.arches, service_ids, strict=True):
        deployment = publisher.deployment(sid)
        containers = deployment["services"]
        assert containers["hello"]["image"] == pinned(publisher, image, arch, image.digests[arch])
        unpinned = [c for c, d in containers.items() if "@sha256:" not in str(d.get("image"))]
        assert not unpinned, f"{sid}: containers without a digest: {unpinned}"
        stored = publisher.service(sid) or {}
        assert (stored["arch"], stored["url"], stored["version"]) == (arch, url, "1.0.0")

        entry = statuses[arch]
        assert entry["id"] == sid
        assert [i["digest"] for i in entry["images"]] == [image.digests[arch]]
        assert entry["publishedTime"]
        rows = publisher.dockauths(sid)
        assert [d.id for d in rows] == [d["id"] for d in entry["dockAuths"]], "status dockAuths != the Exchange's"
        assert [(d.registry, d.username) for d in rows] == [(publisher.cluster.host, image.auth.username)]
        assert rows[0].token == image.auth.token, "the dockauth does not hold the image's current token"
        assert publisher.exchange.get_service_keys(sid) == [key_id]
    verified(publisher, *service_ids)

    # The published key is the public half of the key the operator generated into the Secret.
    secret = publisher.cluster.kube.get(secret_path(namespace, f"{name}-signing-key"))
    assert secret is not None
    key = load_signing_key(
        *(base64.b64decode(secret["data"][k]).decode() for k in ("service.private.key", "service.public.pem"))
    )
    assert key.key_id == key_id
    assert publisher.exchange.get_service_key(service_ids[0], key_id) == key.public_pem
    assert ready["status"]["signing"]["generated"] is True
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]
    types = [c["type"] for c in ready["status"]["conditions"]]
    assert types == ["Ready", *STEPS, "PatternPublished"], types
    assert all(c["status"] == "True" for c in ready["status"]["conditions"]), describe_conditions(ready)
    pattern = publisher.exchange.get_pattern(pattern_name) or {}
    assert publisher.exchange.get_pattern_keys(pattern_name) == [key_id]  # the key goes with the pattern too
    assert sorted(s["serviceArch"] for s in pattern.get("services") or []) == sorted(image.arches)

    private = Token(base64.b64decode(secret["data"]["service.private.key"]).decode())
    leaks = publisher.leaks(namespace, name, [image.auth.token, publisher.password, private])
    assert not leaks, leaks
    # One Event per kind of change, naming every service, each once (not once per resync).
    events = _events_by_reason(publisher, namespace, name)
    assert [len(events[r]) for r in ("Published", "KeyPublished", "Ready")] == [1, 1, 1], sorted(events)
    assert all(f"{publisher.org}/{sid}" in events["Published"][0] for sid in service_ids)
    assert "Resigned" not in events


def _events_by_reason(publisher: Publisher, namespace: str, name: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in publisher.cluster.events(namespace, name):
        if (event.get("involvedObject") or {}).get("kind") != "EdgePublication":
            continue  # the image is often called like its publication
        found.setdefault(str(event.get("reason")), []).append(str(event.get("message")))
    return found


# --- 2. idempotence ---------------------------------------------------------------------------------


def test_resyncs_write_nothing_to_the_exchange(publisher: Publisher, images: dict[str, ReadyImage]) -> None:
    image, url = images["idem"], service_url("idem")
    suffix = url.rsplit(".", 1)[1]
    spec: dict[str, Any] = {
        "pattern": {"name": f"pattern-{suffix}"},
        "servicePolicy": {"properties": [{"name": "sensor.kind", "value": "hello"}], "constraints": ["memory >= 64"]},
        "deploymentPolicy": {"name": f"policy-{suffix}", "constraints": ['purpose == "demo"']},
    }
    namespace, name = _apply(publisher, publication("idem", image.namespace, publisher.endpoints, url=url, spec=spec))
    ready = publisher.wait_ready(namespace, name)
    sid = sid_of(url, "amd64")

    def snapshot() -> dict[str, Any]:
        resource = publisher.get(namespace, name) or {}
        status = resource.get("status") or {}
        return {
            **exchange_snapshot(publisher, sid),
            "pattern": (publisher.exchange.get_pattern(spec["pattern"]["name"]) or {}).get("lastUpdated"),
            "policy": (publisher.exchange.get_business_policy(f"policy-{suffix}") or {}).get("lastUpdated"),
            "servicePolicy": (publisher.exchange.get_service_policy(sid) or {}).get("lastUpdated"),
            "status publishedTime": [s.get("publishedTime") for s in status.get("services") or []],
            "status pattern": status.get("pattern"),
            "status deploymentPolicy": status.get("deploymentPolicy"),
            "status lastPublishedTime": status.get("lastPublishedTime"),
        }

    listing = f"GET /orgs/{publisher.org}/services?url={url}&version=1.0.0"  # each pass reads its services so
    fragments = (sid, f"?url={url}&", spec["pattern"]["name"], f"policy-{suffix}")
    before, seen = snapshot(), len(publisher.exchange_calls(*fragments))
    time.sleep(2 * RESYNC_SECONDS + 1.5)
    after, window = snapshot(), publisher.exchange_calls(*fragments)[seen:]
    assert window.count(listing) >= 2, f"fewer than two resyncs ran: {window}"
    writes = [call for call in window if call.split()[0] in WRITES]
    assert writes == [], f"resyncs wrote to the Exchange: {sorted(set(writes))}"
    changed = {key: (before[key], value) for key, value in after.items() if before[key] != value}
    assert changed == {}, "changed by resyncs (before, after)"
    assert before["status lastPublishedTime"], "status.lastPublishedTime is not set"
    assert condition(publisher.get(namespace, name), "Ready")["status"] == "True"
    assert ready["status"]["observedGeneration"] == ready["metadata"]["generation"]


# --- 3. token rotation ------------------------------------------------------------------------------


def test_token_rotation_keeps_one_dockauth_with_the_current_token(
    publisher: Publisher, images: dict[str, ReadyImage]
) -> None:
    image, url = images["rotate"], service_url("rotate")
    namespace, name = _apply(publisher, publication("rotate", image.namespace, publisher.endpoints, url=url))
    publisher.wait_ready(namespace, name)
    sid = sid_of(url, "amd64")
    first_ids = {row.id for row in publisher.dockauths(sid)}

    def current() -> Token:
        return publisher.cluster.credentials(namespace, "hello-registry").token

    tokens = {current()}

    def rotations() -> bool:
        tokens.add(current())
        return len(tokens) >= 3

    wait_for(rotations, timeout=30, interval=0.5, what="two token rotations")

    last: list[tuple[int, bool]] = []

    def settled() -> list[Any] | None:
        token, rows = current(), publisher.dockauths(sid)
        last[:] = [(len(rows), any(row.token == token for row in rows))]
        return rows if len(rows) == 1 and rows[0].token == token else None

    try:
        rows = wait_for(settled, timeout=20, interval=0.2, what="exactly one dockauth holding the current token")
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen (dockauths, current token among them): {last}") from None
    assert rows[0].id not in first_ids, "the rotated token did not get a dockauth of its own"
    assert (rows[0].registry, rows[0].username) == (publisher.cluster.host, image.auth.username)
    resource = publisher.wait_condition(namespace, name, "CredentialsValid", "True", "Verified", timeout=20)
    recorded = [d["id"] for d in status_services(resource)["amd64"]["dockAuths"]]
    assert len(recorded) == 1, f"status lists dockauths {recorded}"
    assert not publisher.leaks(namespace, name, tokens), "a token leaked"
    assert _events_by_reason(publisher, namespace, name).get("DockAuthRotated"), "no DockAuthRotated Event"


# --- 4. key rotation --------------------------------------------------------------------------------


def test_new_signing_key_re_signs_and_retires_the_old_key(publisher: Publisher, images: dict[str, ReadyImage]) -> None:
    image, url = images["keyrot"], service_url("keyrot")
    namespace, name = _apply(publisher, publication("keyrot", image.namespace, publisher.endpoints, url=url))
    ready = publisher.wait_ready(namespace, name)
    sid = sid_of(url, "amd64")
    old_id = ready["status"]["signing"]["keyId"]
    old = exchange_snapshot(publisher, sid)
    assert old["keys"] == [old_id]

    private_pem, certificate_pem = generate_signing_key(
        bits=2048, organization=publisher.org, common_name=f"{namespace}/rotated"
    )
    new = load_signing_key(private_pem, certificate_pem)
    assert new.key_id != old_id
    data = {"service.private.key": private_pem, "service.public.pem": certificate_pem}
    publisher.cluster.kube.merge_patch(
        secret_path(namespace, "keyrot-signing-key"),
        {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}},
    )

    def rotated(resource: dict[str, Any]) -> bool:
        signing = resource["status"].get("signing") or {}
        return signing.get("keyId") == new.key_id and condition(resource, "Ready").get("status") == "True"

    resource = publisher.wait_until(namespace, name, rotated, f"keyId {new.key_id} and Ready", timeout=30)
    wait_for(lambda: publisher.exchange.get_service_keys(sid) == [new.key_id], timeout=20, what="only the new key")
    assert publisher.exchange.get_service_key(sid, new.key_id) == new.public_pem
    assert exchange_snapshot(publisher, sid)["signature"] != old["signature"], "the deployment was not re-signed"
    assert resource["status"]["signing"].get("publishedKeyIds") == [new.key_id]
    result = publisher.verify([sid])
    assert result.returncode == 0, result.stdout + result.stderr
    assert new.key_id in result.stdout, result.stdout
    events = _events_by_reason(publisher, namespace, name)
    assert any(new.key_id in m for m in events.get("KeyPublished", [])), events
    assert any(old_id in m for m in events.get("KeyRetired", [])), events


# --- 5. moved tag -----------------------------------------------------------------------------------


def test_moved_tag_is_republished_pinned_to_the_new_digest(publisher: Publisher, images: dict[str, ReadyImage]) -> None:
    image, url = images["moved"], service_url("moved")
    namespace, name = _apply(publisher, publication("moved", image.namespace, publisher.endpoints, url=url))
    publisher.wait_ready(namespace, name)
    sid, first = sid_of(url, "amd64"), image.digests["amd64"]
    assert publisher.deployment(sid)["services"]["hello"]["image"] == pinned(publisher, image, "amd64", first)
    before = exchange_snapshot(publisher, sid)

    # The same tag, another image (a Docker manifest instead of an OCI one): another digest.
    moved = publisher.cluster.push(image.auth, image.repository("amd64"), "1.0.0", ca=image.ca, media="docker")
    assert moved != first
    wanted = pinned(publisher, image, "amd64", moved)
    wait_for(
        lambda: publisher.deployment(sid)["services"]["hello"]["image"] == wanted,
        timeout=60,
        interval=0.5,
        what="the Exchange deployment pinned to the moved digest (the image polls every 30 s)",
    )
    esi = publisher.cluster.esi(image.namespace, image.name) or {}
    assert [i["digest"] for i in esi["status"]["images"]] == [moved]
    resource = publisher.wait_until(
        namespace,
        name,
        lambda r: (
            [i["digest"] for i in status_services(r)["amd64"]["images"]] == [moved]
            and condition(r, "Ready").get("status") == "True"
        ),
        "status with the moved digest, Ready",
        timeout=20,
    )
    assert exchange_snapshot(publisher, sid)["signature"] != before["signature"]
    assert status_services(resource)["amd64"]["publishedTime"]
    verified(publisher, sid)
    resigned = _events_by_reason(publisher, namespace, name).get("Resigned", [])
    assert len(resigned) == 1, resigned
    assert moved in resigned[0]


# --- 6. deletion ------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Delete", "Orphan"])
def test_deletion_follows_the_policy(publisher: Publisher, images: dict[str, ReadyImage], policy: str) -> None:
    image, url = images[policy.lower()], service_url(policy.lower())
    suffix = url.rsplit(".", 1)[1]
    other, other_before = unrelated_service(publisher)
    spec = {
        "deletionPolicy": policy,
        "pattern": {"name": f"pattern-{suffix}"},
        "deploymentPolicy": {"name": f"policy-{suffix}"},
    }
    namespace, name = _apply(
        publisher, publication(policy.lower(), image.namespace, publisher.endpoints, url=url, spec=spec)
    )
    ready = publisher.wait_ready(namespace, name)
    assert FINALIZER in (ready["metadata"].get("finalizers") or [])
    sid = sid_of(url, "amd64")

    def published() -> dict[str, bool]:
        return {
            "service": publisher.service(sid) is not None,
            "pattern": publisher.exchange.get_pattern(f"pattern-{suffix}") is not None,
            "deployment policy": publisher.exchange.get_business_policy(f"policy-{suffix}") is not None,
        }

    assert published() == dict.fromkeys(published(), True)
    kept = exchange_snapshot(publisher, sid)
    publisher.cluster.sandbox.kubectl("delete", "epub", name, "-n", namespace, "--wait=false")
    wait_for(lambda: publisher.get(namespace, name) is None, timeout=30, what="the finalizer to let go")

    if policy == "Delete":
        assert published() == dict.fromkeys(published(), False)
    else:
        assert published() == dict.fromkeys(published(), True)
        assert exchange_snapshot(publisher, sid) == kept, "Orphan changed what was published"
    assert exchange_snapshot(publisher, other) == other_before, "an unrelated service was touched"


# --- 7. bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_sets_a_clear_condition_and_writes_nothing(
    publisher: Publisher, images: dict[str, ReadyImage], case: str
) -> None:
    bad, url = BAD_INPUT[case], service_url("bad")
    namespace, name = images["bad"].namespace, f"bad-{url.rsplit('-', 1)[1]}"
    spec = arrange_bad_input(publisher, bad, namespace, name, url)
    _apply(publisher, publication(name, namespace, publisher.endpoints, url=url, spec=spec))

    # Settled on a failure (whichever): then it must be the expected one.
    failed = publisher.wait_until(
        namespace, name, lambda r: condition(r, "Ready").get("status") == "False", "Ready=False", timeout=30
    )
    found = condition(failed, bad.condition)
    assert (found.get("status"), found.get("reason")) == ("False", bad.reason), describe_conditions(failed)
    assert found.get("message"), "the condition does not say why"
    assert condition(failed, "Ready")["reason"] == bad.reason, describe_conditions(failed)
    reasons: set[str] = set()

    def event_posted() -> bool:
        reasons.update(str(e.get("reason")) for e in publisher.cluster.events(namespace, name))
        return bad.reason in reasons

    wait_for(event_posted, timeout=10, what=f"an Event with reason {bad.reason} (seen: {reasons})")
    sid = sid_of(url, "amd64")
    assert publisher.service(sid) is None, f"{sid} was written to the Exchange"
    writes = [c for c in publisher.exchange_calls(sid) if c.split()[0] in WRITES]
    assert writes == [], f"Exchange writes for {sid}: {writes}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"service": {"arches": ["amd64", "mips"]}}, 'spec.service.arches[1]: Unsupported value: "mips"'),
        ({"service": {"version": "1.0.0-beta"}}, "spec.service.version"),
    ],
    ids=["unknown arch", "version the Exchange refuses"],
)
def test_schema_rejects_what_the_exchange_would(
    publisher: Publisher, images: dict[str, ReadyImage], override: dict[str, Any], message: str
) -> None:
    image, url = images["bad"], service_url("schema")
    name = f"schema-{url.rsplit('-', 1)[1]}"
    manifest = publication(name, image.namespace, publisher.endpoints, url=url, spec=override)
    result = publisher.cluster.apply(manifest, check=False)
    assert result.returncode != 0, "the API server accepted it"
    assert message in result.stderr, result.stderr
    assert publisher.get(image.namespace, name) is None


# --- 8. waiting for the image -----------------------------------------------------------------------


def test_publication_waits_for_its_image_and_writes_nothing_meanwhile(
    publisher: Publisher, images: dict[str, ReadyImage]
) -> None:
    image, url = images["waiting"], service_url("waiting")
    esi = publisher.cluster.esi(image.namespace, image.name)
    assert condition(esi, "Ready")["status"] == "False", "precondition: the image is not Ready"
    namespace, name = _apply(publisher, publication("waiting", image.namespace, publisher.endpoints, url=url))
    waiting = publisher.wait_condition(namespace, name, "ImageReady", "Unknown", "WaitingForImage", timeout=20)
    assert (condition(waiting, "Ready")["status"], condition(waiting, "Ready")["reason"]) == (
        "Unknown",
        "WaitingForImage",
    ), "waiting is in flight: Ready Unknown, not False"
    time.sleep(RESYNC_SECONDS + 0.5)
    still = publisher.get(namespace, name)
    assert (condition(still, "ImageReady")["status"], condition(still, "ImageReady")["reason"]) == (
        "Unknown",
        "WaitingForImage",
    ), describe_conditions(still)
    sid = sid_of(url, "amd64")
    assert publisher.service(sid) is None
    writes = [c for c in publisher.exchange_calls(sid) if c.split()[0] in WRITES]
    assert writes == [], f"written to the Exchange before the image was Ready: {writes}"

    digest = publisher.cluster.push(image.auth, image.repository("amd64"), "1.0.0", ca=image.ca)
    publisher.wait_ready(namespace, name)
    assert publisher.deployment(sid)["services"]["hello"]["image"] == pinned(publisher, image, "amd64", digest)


# --- 9. a horizon/ folder handed over as a ConfigMap -------------------------------------------------

HZN_DEFINITION = """{
    "org": "$HZN_ORG_ID",
    "label": "$SERVICE_NAME for $ARCH",
    "url": "$SERVICE_NAME",
    "version": "$SERVICE_VERSION",
    "arch": "$ARCH",
    "public": true,
    "sharable": "multiple",
    "requiredServices": [],
    "userInput": [{"name": "HW_WHO", "label": "Who to say hello to", "type": "string", "defaultValue": "World"}],
    "deployment": {"services": {"hello": {"image": "${DOCKER_IMAGE_BASE}_$ARCH:$SERVICE_VERSION", "privileged": false}}}
}"""


def test_horizon_files_are_substituted_per_arch_and_published(
    publisher: Publisher, images: dict[str, ReadyImage]
) -> None:
    """As ``hzn dev service new`` writes them: $VARIABLEs from hzn.json, ARCH per published arch."""
    image, url = images["files"], service_url("files")
    hzn_json = {
        "HZN_ORG_ID": publisher.org,
        "MetadataVars": {"SERVICE_NAME": url, "SERVICE_VERSION": "1.0.0", "DOCKER_IMAGE_BASE": "example/hello"},
    }
    publisher.cluster.kube.create(
        f"/api/v1/namespaces/{image.namespace}/configmaps",
        {
            "metadata": {"name": "files-horizon"},
            "data": {"hzn.json": json.dumps(hzn_json), "service.definition.json": HZN_DEFINITION},
        },
    )
    spec = {
        "service": {"deployment": None, "version": None, "label": None, "horizonFilesRef": {"name": "files-horizon"}}
    }
    namespace, name = _apply(
        publisher, publication("files", image.namespace, publisher.endpoints, url=url, arches=image.arches, spec=spec)
    )
    publisher.wait_ready(namespace, name)
    for arch in image.arches:
        stored = publisher.exchange.get_service(sid_of(url, arch)) or {}
        assert stored["label"] == f"{url} for {arch}"  # substituted per arch, from the files
        deployment = json.loads(stored["deployment"])
        assert deployment["services"]["hello"]["image"] == pinned(publisher, image, arch, image.digests[arch])
    verified(publisher, *(sid_of(url, arch) for arch in image.arches))
