"""Metrics: bounded label values (path templates, registry operations, IBM Cloud calls), the result of a
reconcile, the gauges that follow each object through create/update/delete, and no secret in any label."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from horizon_publisher import metrics
from horizon_publisher.clients.exchange_http import path_of
from horizon_publisher.conditions import Condition, Status
from horizon_publisher.metrics import OperatorMetrics, reconciling, record_outcome, result_of
from horizon_publisher.metrics_paths import (
    EXCHANGE_COLLECTIONS,
    EXCHANGE_WORDS,
    IBMCLOUD_APIS,
    REGISTRY_OPERATIONS,
    UNKNOWN_SEGMENT,
    exchange_template,
    ibmcloud_api,
    registry_operation,
)
from horizon_publisher.reconcile.outcome import Outcome

ESI, EPUB = "EdgeServiceImage", "EdgePublication"
TEMPLATE_WORDS = {*EXCHANGE_COLLECTIONS, *EXCHANGE_COLLECTIONS.values(), *EXCHANGE_WORDS, UNKNOWN_SEGMENT}


@pytest.fixture
def fresh() -> Iterator[OperatorMetrics]:
    """A registry of its own, installed as the process's metrics for the test."""
    made = OperatorMetrics(process_collectors=False)
    previous = metrics.use(made)
    try:
        yield made
    finally:
        metrics.use(previous)


def sample(m: OperatorMetrics, metric: str, /, **labels: str) -> float | None:
    return m.registry.get_sample_value(f"horizon_publisher_{metric}", labels)


def label_values(m: OperatorMetrics) -> set[str]:
    return {value for family in m.registry.collect() for s in family.samples for value in s.labels.values()}


# --- Exchange path templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/admin/version", "/admin/version"),
        ("/orgs/myorg/services", "/orgs/{org}/services"),
        ("/orgs/myorg/services/com.example.x_1.0.0_amd64", "/orgs/{org}/services/{service}"),
        ("/orgs/myorg/services/s/keys/key.pem", "/orgs/{org}/services/{service}/keys/{key}"),
        ("/orgs/myorg/services/s/dockauths", "/orgs/{org}/services/{service}/dockauths"),
        ("/orgs/myorg/services/s/dockauths/17", "/orgs/{org}/services/{service}/dockauths/{id}"),
        ("/orgs/myorg/services/s/policy", "/orgs/{org}/services/{service}/policy"),
        ("/orgs/o/patterns/p/keys/k", "/orgs/{org}/patterns/{pattern}/keys/{key}"),
        ("/orgs/o/business/policies/p", "/orgs/{org}/business/policies/{policy}"),
        ("/orgs/services/services/orgs", "/orgs/{org}/services/{service}"),  # ids that spell our words
        ("/orgs/o/services?owner=alice&arch=amd64", "/orgs/{org}/services"),
        ("/orgs/o/weird/123/thing", "/orgs/{org}/{other}/{other}/{other}"),
        ("/orgs/o/services/a%2Fb", "/orgs/{org}/services/{service}"),
        ("//orgs//o/", "/orgs/{org}"),
        ("", "/"),
    ],
)
def test_exchange_template(path: str, template: str) -> None:
    assert exchange_template(path) == template


SEGMENT = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(str),
    st.uuids().map(str),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-:@", min_size=1, max_size=40),
    st.sampled_from(sorted(TEMPLATE_WORDS)),
)


@given(org=SEGMENT, service=SEGMENT, key=SEGMENT, dockauth=st.integers(min_value=0, max_value=10**9))
def test_no_id_leaks_into_exchange_templates(org: str, service: str, key: str, dockauth: int) -> None:
    shapes = {
        path_of("orgs", org, "services", service, "dockauths", str(dockauth)):
            "/orgs/{org}/services/{service}/dockauths/{id}",
        path_of("orgs", org, "services", service, "keys", key): "/orgs/{org}/services/{service}/keys/{key}",
        path_of("orgs", org, "patterns", service): "/orgs/{org}/patterns/{pattern}",
        path_of("orgs", org, "business", "policies", key): "/orgs/{org}/business/policies/{policy}",
    }  # fmt: skip
    for path, expected in shapes.items():
        assert exchange_template(path) == expected


@given(st.text(max_size=80))
def test_any_path_templates_to_known_words_only(path: str) -> None:
    template = exchange_template(path)
    assert set(template.strip("/").split("/")) - {""} <= TEMPLATE_WORDS
    assert not re.search(r"\d", template)
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", template)


# --- registry operations and IBM Cloud APIs ---------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32
SESSION = f"/v2/team/app_amd64/blobs/uploads/{uuid.uuid4()}"


@pytest.mark.parametrize(
    ("method", "url", "operation"),
    [
        ("GET", "https://r.example/v2/", "ping"),
        ("HEAD", f"https://r.example/v2/team/app_amd64/manifests/{DIGEST}", "manifest_head"),
        ("GET", "https://r.example/v2/team/app_amd64/manifests/1.0.0", "manifest_get"),
        ("PUT", "/v2/a/manifests/latest", "manifest_put"),
        ("DELETE", "/v2/a/manifests/latest", "manifest_delete"),
        ("GET", "/v2/manifests/manifests/latest", "manifest_get"),  # a repository named "manifests"
        ("HEAD", f"/v2/team/blobs/x/blobs/{DIGEST}", "blob_head"),
        ("GET", f"/v2/a/blobs/{DIGEST}", "blob_get"),
        ("POST", "/v2/a/blobs/uploads/", "upload_start"),
        ("POST", f"/v2/a/blobs/uploads/?mount={DIGEST}&from=b/c", "mount"),
        ("PATCH", f"https://r.example{SESSION}?_state=opaque", "upload_chunk"),
        ("PUT", f"{SESSION}?_state=s&digest={DIGEST}", "upload_finish"),
        ("GET", SESSION, "upload_status"),
        ("DELETE", SESSION, "upload_cancel"),
        ("GET", "/v2/a/tags/list?n=100", "tags_list"),
        ("OPTIONS", "/v2/a/manifests/x", "other"),
        ("GET", "https://auth.example/openshift/token?scope=x", "other"),  # the realm says "token" explicitly
        ("get", "/v2/a/manifests/x", "manifest_get"),
    ],
)
def test_registry_operation(method: str, url: str, operation: str) -> None:
    assert registry_operation(method, url) == operation


@given(st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "X"]), st.text(max_size=120))
def test_registry_operations_come_from_a_fixed_set(method: str, url: str) -> None:
    assert registry_operation(method, url) in REGISTRY_OPERATIONS


@pytest.mark.parametrize(
    ("method", "path", "api"),
    [
        ("POST", "/identity/token", "iam_token"),
        ("PUT", "/api/v1/namespaces/team-a", "namespace_add"),
        ("GET", "/api/v1/namespaces", "namespace_list"),
        ("GET", "/api/v1/images?namespace=team-a", "image_list"),
        ("DELETE", "/api/v1/namespaces/team-a", "other"),
        ("GET", "/api/v1/namespaces/team-a", "other"),
    ],
)
def test_ibmcloud_api(method: str, path: str, api: str) -> None:
    assert ibmcloud_api(method, path) == api
    assert api in IBMCLOUD_APIS


# --- results and gauges -----------------------------------------------------------------------------


def outcome(status: Status, reason: str = "Reconciled", *, ready: bool = True) -> Outcome:
    conditions = [Condition("Ready", status, reason)] if ready else []
    return Outcome(conditions=[*conditions, Condition("ProjectReady", "True", "Created")])


@pytest.mark.parametrize(
    ("given_outcome", "result"),
    [
        (outcome("True"), "ready"),
        (outcome("Unknown", "Pending"), "waiting"),
        (outcome("Unknown", "Suspended"), "waiting"),
        (outcome("False", "RegistryUnreachable"), "failed"),
        (outcome("False", "InvalidSpec"), "invalid"),
        (outcome("True", ready=False), "waiting"),
    ],
)
def test_result_of(given_outcome: Outcome, result: str) -> None:
    assert result_of(given_outcome) == result


def reconcile(
    uid: str, ready: Status, *, kind: str = ESI, name: str = "", status: dict[str, object] | None = None
) -> None:
    with reconciling(kind, "ns", name or uid, uid):
        record_outcome(outcome(ready, "InvalidSpec" if ready == "False" else "R"), status or {})


def counts(true: int, false: int, unknown: int) -> dict[str, float]:
    return {"True": true, "False": false, "Unknown": unknown}


# Each step: ("reconcile", uid, Ready) or ("delete", uid, ""); then the counts per Ready state of ESI.
GAUGE_CASES = {
    "create": ([("reconcile", "a", "Unknown")], counts(0, 0, 1)),
    "becomes ready": ([("reconcile", "a", "Unknown"), ("reconcile", "a", "True")], counts(1, 0, 0)),
    "same state twice": ([("reconcile", "a", "True"), ("reconcile", "a", "True")], counts(1, 0, 0)),
    "two objects": ([("reconcile", "a", "True"), ("reconcile", "b", "False")], counts(1, 1, 0)),
    "delete": ([("reconcile", "a", "True"), ("reconcile", "b", "True"), ("delete", "a", "")], counts(1, 0, 0)),
    "delete unknown uid": ([("delete", "zz", "")], counts(0, 0, 0)),
    "delete twice": ([("reconcile", "a", "False"), ("delete", "a", ""), ("delete", "a", "")], counts(0, 0, 0)),
    "recreated": ([("reconcile", "a", "True"), ("delete", "a", ""), ("reconcile", "a2", "Unknown")], counts(0, 0, 1)),
}


@pytest.mark.parametrize(("steps", "expected"), list(GAUGE_CASES.values()), ids=list(GAUGE_CASES))
def test_ready_gauge_follows_objects(
    fresh: OperatorMetrics, steps: list[tuple[str, str, Status]], expected: dict[str, float]
) -> None:
    for action, uid, ready in steps:
        if action == "reconcile":
            reconcile(uid, ready)
        else:
            metrics.forget_resource(uid)
    assert {state: sample(fresh, "resources", kind=ESI, ready=state) for state in expected} == expected
    assert {state: sample(fresh, "resources", kind=EPUB, ready=state) for state in expected} == dict.fromkeys(
        expected, 0
    )


def test_reconcile_counted_by_result_and_timed(fresh: OperatorMetrics) -> None:
    reconcile("a", "True")
    reconcile("a", "False")
    with pytest.raises(RuntimeError), reconciling(EPUB, "ns", "p", "u"):  # no outcome: an error
        raise RuntimeError("boom")
    assert sample(fresh, "reconcile_total", kind=ESI, result="ready") == 1
    assert sample(fresh, "reconcile_total", kind=ESI, result="invalid") == 1
    assert sample(fresh, "reconcile_total", kind=EPUB, result="error") == 1
    assert sample(fresh, "reconcile_total", kind=EPUB, result="ready") == 0  # present from the start
    assert sample(fresh, "reconcile_duration_seconds_count", kind=ESI) == 2
    assert sample(fresh, "resources", kind=EPUB, ready="Unknown") == 0  # an error does not count an object


def test_outcome_outside_a_reconcile_is_ignored(fresh: OperatorMetrics) -> None:
    record_outcome(outcome("True"), {})
    metrics.record_iam_token(1.0)
    assert sample(fresh, "resources", kind=ESI, ready="True") == 0


def test_token_expiry_follows_status_and_goes_with_the_object(fresh: OperatorMetrics) -> None:
    expiry = {"credentials": {"tokenExpirationTime": "2030-01-01T00:00:00Z"}}
    labels = {"namespace": "ns", "name": "img", "kind": ESI}
    reconcile("u", "True", name="img", status=expiry)
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels, token="serviceaccount") == 1893456000.0
    reconcile("u", "True", name="img", status={"credentials": {}})  # LongLived now: no expiry
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels, token="serviceaccount") is None
    with reconciling(ESI, "ns", "img", "u"):
        metrics.record_iam_token(1900000000.0)
        record_outcome(outcome("True"), {})
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels, token="iam") == 1900000000.0
    reconcile("p", "True", kind=EPUB, name="img")  # a publication of the same name leaves it alone
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels, token="iam") == 1900000000.0
    metrics.forget_resource("u")
    assert sample(fresh, "token_expiry_timestamp_seconds", **labels, token="iam") is None


def test_published_services_count_the_published_ones(fresh: OperatorMetrics) -> None:
    status = {"services": [{"arch": "amd64", "id": "s_1_amd64"}, {"arch": "arm64", "id": "s_1_arm64"}, {"arch": "x"}]}
    reconcile("p", "True", kind=EPUB, name="pub", status=status)
    assert sample(fresh, "published_services", namespace="ns", name="pub") == 2
    reconcile("i", "True", kind=ESI, name="pub", status=status)  # images publish nothing ...
    metrics.forget_resource("i")  # ... and take nothing with them when they go
    assert sample(fresh, "published_services", namespace="ns", name="pub") == 2
    metrics.forget_resource("p")
    assert sample(fresh, "published_services", namespace="ns", name="pub") is None


# A marker no fixed label word contains, then random characters: a substring hit can only be a leak.
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
SECRET = st.text(alphabet=ALNUM, min_size=8, max_size=40).map(lambda tail: f"S3cr3t{tail}")


@given(secret=SECRET)
def test_no_label_value_carries_a_secret(secret: str) -> None:
    fresh = OperatorMetrics(process_collectors=False)
    previous = metrics.use(fresh)
    try:
        metrics.record_exchange_request("POST", path_of("orgs", "o", "services", secret, "dockauths"), 201, 0.1)
        metrics.record_exchange_request("DELETE", f"/orgs/o/services/s/dockauths/{secret}?token={secret}", None, 0.1)
        metrics.record_registry_request("PATCH", f"https://u:{secret}@r.example{SESSION}?_state={secret}", 202, 0.1)
        metrics.record_registry_request("GET", f"https://r.example/openshift/token?account={secret}", 200, 0.1, "token")
        metrics.record_registry_request("GET", f"https://r.example/v2/{secret}/manifests/{secret}", 200, 0.1)
        metrics.record_ibmcloud_request("PUT", f"/api/v1/namespaces/{secret}", 201, 0.1)
        metrics.record_ibmcloud_request("POST", f"/identity/token?apikey={secret}", 200, 0.1)
        values = label_values(fresh)
    finally:
        metrics.use(previous)
    assert not [v for v in values if secret in v]
