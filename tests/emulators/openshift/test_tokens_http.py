"""Service-account tokens over HTTP: long-lived Secret tokens, TokenRequest, expiry, revocation, kubectl create
token."""

from __future__ import annotations

import base64
import datetime
import json

import kubernetes.client as k8s
import pytest
from kubernetes.client.exceptions import ApiException
from openshift_sandbox import Sandbox, bind, create_service_account, token_for, wait_for

TOKEN_SECRET = {
    "metadata": {"name": "robot-token", "annotations": {"kubernetes.io/service-account.name": "robot"}},
    "type": "kubernetes.io/service-account-token",
}


def whoami(box: Sandbox, token: str) -> str | int:
    """The username the API server authenticates ``token`` as, or the HTTP status of the refusal."""
    try:
        review = k8s.AuthenticationV1Api(box.client(token)).create_self_subject_review({})
    except ApiException as error:
        return int(error.status)
    return str(review.status.user_info.username)


def token_review(box: Sandbox, token: str, audiences: list[str] | None = None) -> k8s.V1TokenReviewStatus:
    spec: dict = {"token": token}
    if audiences:
        spec["audiences"] = audiences
    return k8s.AuthenticationV1Api(box.client()).create_token_review({"spec": spec}).status


def test_long_lived_token_secret_is_filled_then_authenticates_until_deleted(sandbox: Sandbox) -> None:
    account = create_service_account(sandbox, "p", "robot")
    core = k8s.CoreV1Api(sandbox.client())
    created = core.create_namespaced_secret("p", TOKEN_SECRET)
    assert not created.data  # the tokens controller works asynchronously
    secret = wait_for(lambda: (s := core.read_namespaced_secret("robot-token", "p")).data and s)
    token = base64.b64decode(secret.data["token"]).decode()
    assert base64.b64decode(secret.data["namespace"]) == b"p"
    assert base64.b64decode(secret.data["ca.crt"]).decode() == sandbox.config.root_ca_bundle
    assert secret.metadata.annotations["kubernetes.io/service-account.uid"] == account["metadata"]["uid"]

    status = token_review(sandbox, token)
    assert status.authenticated is True
    assert status.user.username == "system:serviceaccount:p:robot"
    assert status.user.uid == account["metadata"]["uid"]
    assert status.user.groups == ["system:serviceaccounts", "system:serviceaccounts:p", "system:authenticated"]

    # A real request with it: forbidden without RBAC, allowed with a binding.
    with pytest.raises(ApiException) as caught:
        k8s.CoreV1Api(sandbox.client(token)).list_namespaced_config_map("p")
    assert caught.value.status == 403
    bind(sandbox, "p", "view", "p", "robot")
    names = {c.metadata.name for c in k8s.CoreV1Api(sandbox.client(token)).list_namespaced_config_map("p").items}
    assert "kube-root-ca.crt" in names

    core.delete_namespaced_secret("robot-token", "p")
    assert whoami(sandbox, token) == 401
    assert token_review(sandbox, token).authenticated is None


def test_token_secret_for_a_missing_account_is_deleted(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "someone-else")
    core = k8s.CoreV1Api(sandbox.client())
    core.create_namespaced_secret("p", TOKEN_SECRET)

    def gone() -> bool:
        try:
            core.read_namespaced_secret("robot-token", "p")
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone)


def test_deleting_the_account_deletes_its_token_secret_and_revokes_the_token(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    core = k8s.CoreV1Api(sandbox.client())
    core.create_namespaced_secret("p", TOKEN_SECRET)
    secret = wait_for(lambda: (s := core.read_namespaced_secret("robot-token", "p")).data and s)
    token = base64.b64decode(secret.data["token"]).decode()
    bound_token = token_for(sandbox, "p", "robot")
    core.delete_namespaced_service_account("robot", "p")
    assert [s.metadata.name for s in core.list_namespaced_secret("p").items] == []
    assert whoami(sandbox, token) == 401
    assert whoami(sandbox, bound_token) == 401
    # Same name, new uid: the old tokens stay dead.
    core.create_namespaced_service_account("p", {"metadata": {"name": "robot"}})
    assert whoami(sandbox, bound_token) == 401


def test_token_request_defaults_authenticates_and_expires(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    response = k8s.CoreV1Api(sandbox.client()).create_namespaced_service_account_token("robot", "p", {"spec": {}})
    assert response.spec.expiration_seconds == 3600
    assert response.spec.audiences == ["https://kubernetes.default.svc"]
    expires = response.status.expiration_timestamp
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=3600)
    assert abs((expires - expected).total_seconds()) < 5
    token = response.status.token
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "robot"
    assert whoami(sandbox, token) == "system:serviceaccount:p:robot"
    sandbox.clock.advance(3600 + 61)  # past exp plus the validator's 60 s leeway
    assert whoami(sandbox, token) == 401
    status = token_review(sandbox, token)
    assert status.authenticated is None
    assert "service account token has expired" in status.error


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (599, "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"),
        (
            2**32 + 1,
            "spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds",
        ),
    ],
)
def test_token_request_duration_limits(sandbox: Sandbox, seconds: int, message: str) -> None:
    create_service_account(sandbox, "p", "robot")
    with pytest.raises(ApiException) as caught:
        k8s.CoreV1Api(sandbox.client()).create_namespaced_service_account_token(
            "robot", "p", {"spec": {"expirationSeconds": seconds}}
        )
    assert caught.value.status == 422
    assert (
        json.loads(caught.value.body)["message"] == f'TokenRequest.authentication.k8s.io "robot" is invalid: {message}'
    )


def test_token_request_minimum_is_accepted_and_server_maximum_shortens(sandbox_factory) -> None:
    box = sandbox_factory(max_token_expiration_seconds=1800)
    create_service_account(box, "p", "robot")
    core = k8s.CoreV1Api(box.client())
    assert (
        core.create_namespaced_service_account_token(
            "robot", "p", {"spec": {"expirationSeconds": 600}}
        ).spec.expiration_seconds
        == 600
    )
    assert (
        core.create_namespaced_service_account_token(
            "robot", "p", {"spec": {"expirationSeconds": 7200}}
        ).spec.expiration_seconds
        == 1800
    )


def test_token_bound_to_a_secret_dies_with_it(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    core = k8s.CoreV1Api(sandbox.client())
    holder = core.create_namespaced_secret("p", {"metadata": {"name": "holder"}, "stringData": {"a": "b"}})
    ref = {"kind": "Secret", "apiVersion": "v1", "name": "holder", "uid": holder.metadata.uid}
    token = token_for(sandbox, "p", "robot", boundObjectRef=ref)
    assert whoami(sandbox, token) == "system:serviceaccount:p:robot"
    core.delete_namespaced_secret("holder", "p")
    assert whoami(sandbox, token) == 401
    with pytest.raises(ApiException) as caught:
        token_for(sandbox, "p", "robot", boundObjectRef={"kind": "ConfigMap", "apiVersion": "v1", "name": "x"})
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == "cannot bind token to object of type /v1, Kind=ConfigMap"


def test_custom_audience_is_rejected_by_the_api_but_reviewable(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    token = token_for(sandbox, "p", "robot", audiences=["registry"])
    assert whoami(sandbox, token) == 401
    status = token_review(sandbox, token, ["registry"])
    assert status.authenticated is True
    assert status.audiences == ["registry"]


def test_token_request_for_a_missing_account_is_404(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    with pytest.raises(ApiException) as caught:
        token_for(sandbox, "p", "ghost")
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'serviceaccounts "ghost" not found'


def test_kubectl_create_token(sandbox: Sandbox) -> None:
    create_service_account(sandbox, "p", "robot")
    result = sandbox.kubectl("create", "token", "robot", "-n", "p", "--duration=15m")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert whoami(sandbox, token) == "system:serviceaccount:p:robot"
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == 900
