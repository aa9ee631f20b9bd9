"""The OpenShift token step: renewal, and rotation on request (rotate-credentials-requested-at), against an
in-memory cluster whose token controller mints legacy tokens as Kubernetes does: a pure function of the
service account's uid and the Secret's name, so a Secret made again under its old name gets its old token."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from horizon_publisher.clients.kube import SECRETS, SERVICE_ACCOUNTS, KubeError, Resource
from horizon_publisher.conditions import timestamp
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile import openshift_image, openshift_token
from horizon_publisher.reconcile.steps import Progress, StepResult

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
OWNER = desired.Owner("team", "hello", "uid-1")
HOST = "registry.example"
PROJECT, ACCOUNT, TOKEN_SECRET = "p1", "edge-publisher", "edge-publisher-horizon-token"
OUTPUT = ("secrets", "team", "hello-registry")


class Crash(KubeError):
    """The operator died at this call (the pass ends; what was done stays done)."""

    def __init__(self) -> None:
        super().__init__(500, "Crash", "the operator stopped here")


class Cluster:
    """Objects by (plural, namespace, name) with uids; ``tick`` runs the token controller.

    ``crash_at``: the index (counting every write) of the write that fails instead of happening.
    """

    def __init__(self, crash_at: int | None = None) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.uids = (f"uid-{n}" for n in itertools.count(100))
        self.writes: list[tuple[str, str, str]] = []
        self.crash_at = crash_at
        self.tokens_requested = 0

    def _write(self, verb: str, resource: Resource, name: str) -> None:
        if self.crash_at is not None and len(self.writes) == self.crash_at:
            self.crash_at = None
            raise Crash
        self.writes.append((verb, resource.plural, name))

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((resource.plural, namespace, name))

    def create(self, resource: Resource, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        assert (resource.plural, namespace, name) not in self.objects, "AlreadyExists"
        self._write("create", resource, name)
        made = {**body, "metadata": {**body["metadata"], "uid": next(self.uids)}}
        self.objects[(resource.plural, namespace, name)] = made
        return made

    def delete(self, resource: Resource, namespace: str | None, name: str) -> bool:
        self._write("delete", resource, name)
        return self.objects.pop((resource.plural, namespace, name), None) is not None

    def merge_patch(self, resource: Resource, namespace: str | None, name: str, patch: dict[str, Any]) -> Any:
        self._write("patch", resource, name)
        self.objects[(resource.plural, namespace, name)].update(patch)
        return self.objects[(resource.plural, namespace, name)]

    def request_token(self, namespace: str, service_account: str, expiration_seconds: int) -> tuple[str, str]:
        self.tokens_requested += 1
        expiry = NOW + timedelta(seconds=expiration_seconds)
        return f"bound-{self.tokens_requested}", timestamp(expiry)

    def tick(self) -> None:
        """The token controller: fill each token Secret for the live account of its uid, or delete it."""
        for key, secret in list(self.objects.items()):
            if key[0] != "secrets" or secret.get("type") != "kubernetes.io/service-account-token":
                continue
            annotations = secret["metadata"].setdefault("annotations", {})
            account = self.get(SERVICE_ACCOUNTS, key[1], annotations[desired.SA_NAME_ANNOTATION])
            uid = (account or {}).get("metadata", {}).get("uid")
            if uid is None or annotations.get(desired.SA_UID_ANNOTATION, uid) != uid:
                del self.objects[key]
                continue
            annotations[desired.SA_UID_ANNOTATION] = uid
            token = f"legacy-{uid}-{key[2]}"  # deterministic, as Kubernetes' legacy tokens are
            secret.setdefault("data", {})["token"] = base64.b64encode(token.encode()).decode()

    def token_in(self, name: str = TOKEN_SECRET) -> str:
        return base64.b64decode(self.objects[("secrets", PROJECT, name)]["data"]["token"]).decode()


def context(
    kube: Cluster, mode: str, request: str = "", status: dict[str, Any] | None = None
) -> openshift_image.Context:
    openshift = {"project": PROJECT, "token": {"mode": mode}}
    spec = {"registry": {"openshift": openshift}, "image": {"name": "n", "tag": "1"}}
    ctx = openshift_image.Context(kube, OWNER, spec, status or {}, NOW, Progress(("Ready",)))  # type: ignore[arg-type]
    ctx.host, ctx.rotation_request = HOST, request
    return ctx


def run_pass(kube: Cluster, mode: str, request: str, status: dict[str, Any]) -> tuple[openshift_image.Context, bool]:
    """account_step then token_step as run_steps runs them; True when the token step succeeded."""
    ctx = context(kube, mode, request, status)
    openshift_image.run_steps(ctx, [("ServiceAccountReady", openshift_image.account_step),
                                    ("TokenReady", openshift_token.token_step)])  # fmt: skip
    results = ctx.progress.results
    return ctx, len(results) == 2 and results[-1].condition.status == "True"


def write_output(kube: Cluster, token: str) -> None:
    secret = desired.credentials_secret("hello-registry", OWNER, HOST, ACCOUNT, token)
    kube.objects[OUTPUT] = secret


def long_lived_cluster() -> tuple[Cluster, str]:
    """A LongLived image in its steady state: account, filled Secret, output Secret; the old token."""
    kube = Cluster()
    ctx, done = run_pass(kube, "LongLived", "", {})
    kube.tick()
    ctx, done = run_pass(kube, "LongLived", "", {})
    assert done
    write_output(kube, ctx.token)
    kube.writes.clear()
    return kube, ctx.token


def events(result: StepResult) -> list[str]:
    return [e.reason for e in result.events]


# --- Rotating mode: mode x annotation x freshness ------------------------------------------------------

FRESH = {"tokenRenewalTime": timestamp(NOW + timedelta(hours=1)), "tokenExpirationTime": "2026-11-28T12:00:00Z"}
DUE = {"tokenRenewalTime": timestamp(NOW - timedelta(seconds=1)), "tokenExpirationTime": "2026-11-27T12:30:00Z"}


@pytest.mark.parametrize(
    ("annotation", "handled", "times", "new_token", "answers"),
    [
        ("", "", FRESH, False, ""),  # nothing asked, nothing due
        ("", "", DUE, True, ""),  # the natural renewal
        ("", "t1", FRESH, False, ""),  # annotation removed: nothing
        ("t1", "t1", FRESH, False, ""),  # the same value again (GitOps re-sync): nothing
        ("t1", "t1", DUE, True, ""),  # renewal only; the request was answered before
        ("t2", "t1", FRESH, True, "t2"),  # a new value: a new token although the current one is fresh
        ("t2", "", FRESH, True, "t2"),
        ("t2", "t1", DUE, True, "t2"),  # due anyway: the renewal answers the request too
    ],
)
def test_rotating_token(annotation: str, handled: str, times: dict[str, str], new_token: bool, answers: str) -> None:
    kube = Cluster()
    write_output(kube, "bound-old")
    status = {"credentials": {**times, **({"lastHandledRotationRequest": handled} if handled else {})}}
    ctx = context(kube, "Rotating", annotation, status)
    result = openshift_token.token_step(ctx)
    assert result.condition.reason == "TokenIssued"
    assert kube.tokens_requested == int(new_token)
    assert ctx.token == ("bound-1" if new_token else "bound-old")
    assert ctx.rotated_for == answers
    assert events(result) == (["TokenRotated"] if new_token else [])
    assert ("(rotation requested)" in "".join(e.message for e in result.events)) is bool(answers)
    credentials = ctx.progress.status["credentials"]
    assert (credentials.get("lastRotationTime") == timestamp(NOW)) is new_token
    if new_token:
        assert credentials["tokenExpirationTime"] == "2026-11-28T12:00:00Z"  # the default lifetime, 1 day
        assert credentials["tokenRenewalTime"] == "2026-11-28T04:00:00Z"  # at two thirds


def test_a_request_on_a_first_token_records_no_rotation_event() -> None:
    ctx = context(Cluster(), "Rotating", "t1")  # no output Secret yet: this token is the first one
    result = openshift_token.token_step(ctx)
    assert (ctx.rotated_for, events(result)) == ("t1", ["TokenRotated"])  # answered: the request said so


# --- LongLived mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("annotation", "handled"), [("", ""), ("", "t1"), ("t1", "t1")])
def test_long_lived_token_without_a_new_request_is_read_as_is(annotation: str, handled: str) -> None:
    kube, old = long_lived_cluster()
    status = {"credentials": {"lastHandledRotationRequest": handled}} if handled else {}
    ctx, done = run_pass(kube, "LongLived", annotation, status)
    assert done
    assert (ctx.token, ctx.rotated_for, kube.writes) == (old, "", [])


def test_a_new_request_replaces_the_account_and_its_secret_then_takes_the_new_token() -> None:
    kube, old = long_lived_cluster()
    old_uid = kube.get(SERVICE_ACCOUNTS, PROJECT, ACCOUNT)["metadata"]["uid"]  # type: ignore[index]
    ctx, done = run_pass(kube, "LongLived", "t1", {})
    assert not done
    assert ctx.progress.results[-1].condition.reason == "WaitingForTokenController"
    assert ctx.token == ""
    assert kube.writes == [
        ("delete", "secrets", TOKEN_SECRET),  # the old token stops working first
        ("delete", "serviceaccounts", ACCOUNT),
        ("create", "serviceaccounts", ACCOUNT),
        ("create", "secrets", TOKEN_SECRET),
    ]
    account = kube.get(SERVICE_ACCOUNTS, PROJECT, ACCOUNT)
    assert account is not None
    assert account["metadata"]["annotations"] == {desired.ROTATION_ANSWERED_ANNOTATION: "t1"}
    assert account["metadata"]["uid"] != old_uid
    secret = kube.get(SECRETS, PROJECT, TOKEN_SECRET)
    assert secret is not None
    assert secret["metadata"]["annotations"][desired.SA_UID_ANNOTATION] == account["metadata"]["uid"]

    kube.tick()
    ctx, done = run_pass(kube, "LongLived", "t1", {})
    assert done
    assert ctx.token == kube.token_in() != old
    assert ctx.rotated_for == "t1"
    assert events(ctx.progress.results[-1]) == ["TokenRotated"]
    assert ctx.progress.status["credentials"]["lastRotationTime"] == timestamp(NOW)


def test_the_same_secret_name_for_the_same_account_gets_the_same_token_back() -> None:
    """Why the account is made anew: deleting and recreating only the Secret changes nothing."""
    kube, old = long_lived_cluster()
    kube.delete(SECRETS, PROJECT, TOKEN_SECRET)
    account_uid = kube.get(SERVICE_ACCOUNTS, PROJECT, ACCOUNT)["metadata"]["uid"]  # type: ignore[index]
    kube.create(SECRETS, PROJECT, desired.token_secret(PROJECT, ACCOUNT, OWNER, account_uid))
    kube.tick()
    assert kube.token_in() == old


def test_a_secret_left_from_the_old_account_is_replaced_never_read() -> None:
    kube, _ = long_lived_cluster()
    account = desired.service_account(PROJECT, ACCOUNT, OWNER, "t1")
    kube.objects[("serviceaccounts", PROJECT, ACCOUNT)] = {**account, "metadata": {**account["metadata"], "uid": "new"}}
    ctx, done = run_pass(kube, "LongLived", "t1", {})
    assert not done
    assert ctx.token == ""
    assert kube.writes == [("delete", "secrets", TOKEN_SECRET), ("create", "secrets", TOKEN_SECRET)]


def test_an_account_we_did_not_make_is_not_replaced_and_the_request_is_answered_with_why() -> None:
    kube, old = long_lived_cluster()
    kube.objects[("serviceaccounts", PROJECT, ACCOUNT)]["metadata"]["labels"] = {}
    ctx, done = run_pass(kube, "LongLived", "t1", {})
    assert done
    assert (kube.writes, ctx.token, ctx.rotated_for) == ([], old, "t1")
    [note] = ctx.progress.results[-1].events
    assert (note.type, note.reason) == ("Warning", "RotationNotPossible")


@pytest.mark.parametrize("crash_at", range(5))
def test_a_crash_anywhere_in_a_rotation_converges_on_a_new_token(crash_at: int) -> None:
    """The operator dies at the crash_at-th write after the request; the next passes finish the job,
    honour the request, and never hand out the old token while the request is pending."""
    kube, old = long_lived_cluster()
    kube.crash_at = crash_at
    taken: list[str] = []
    for _ in range(6):
        ctx, done = run_pass(kube, "LongLived", "t1", {})
        kube.tick()
        if ctx.token:
            taken.append(ctx.token)
        if done:
            break
    assert done, f"no token after the crash; writes: {kube.writes}"
    assert taken == [kube.token_in()]
    assert old not in taken
    assert ctx.rotated_for == "t1"
    assert len([o for o in kube.objects if o[0] == "serviceaccounts"]) == 1
