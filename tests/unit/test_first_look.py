"""First sight of a resource: every condition written, bad input reported once, no churn after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from horizon_publisher.reconcile import publication, service_image

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def body(spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1) -> dict[str, Any]:
    return {"metadata": {"name": "x", "generation": generation}, "spec": spec, "status": status or {}}


def status_of(outcome: Any) -> dict[str, Any]:
    return {"conditions": [c.to_dict() for c in outcome.conditions]}


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        (
            {"openshift": {"project": "p1"}},
            [
                "Ready",
                "RegistryRouteReady",
                "ProjectReady",
                "ServiceAccountReady",
                "RoleBindingReady",
                "TokenReady",
                "CATrusted",
                "CredentialsReady",
                "ImageResolved",
            ],
        ),
        (
            {"ibmCloud": {"namespace": "ns01"}},
            ["Ready", "TokenReady", "ProjectReady", "CredentialsReady", "ImageResolved"],
        ),
        ({"generic": {"host": "r"}}, ["Ready", "CredentialsReady", "ImageResolved"]),
        (
            {"generic": {"host": "r", "tls": {"caRef": {"name": "ca"}}}},
            ["Ready", "CATrusted", "CredentialsReady", "ImageResolved"],
        ),
    ],
)
def test_every_condition_unknown_on_first_sight(registry: dict[str, Any], expected: list[str]) -> None:
    outcome = service_image.reconcile(body({"registry": registry}), now=NOW)
    assert [c.type for c in outcome.conditions] == expected
    assert {c.status for c in outcome.conditions} == {"Unknown"}
    assert all(c.observed_generation == 1 and c.reason for c in outcome.conditions)
    assert outcome.events == []


def test_image_copy_adds_its_condition() -> None:
    spec = {"registry": {"generic": {"host": "r"}}, "image": {"source": {"reference": "quay.io/x/y:1"}}}
    types = [c.type for c in service_image.reconcile(body(spec), now=NOW).conditions]
    assert types == ["Ready", "CredentialsReady", "ImageCopied", "ImageResolved"]


def test_invalid_spec_sets_ready_false_and_posts_one_warning() -> None:
    spec = {
        "registry": {"generic": {"host": "r", "credentialsSecretRef": {"name": "in"}}},
        "output": {"credentialsSecretName": "in"},
    }
    first = service_image.reconcile(body(spec), now=NOW)
    ready = first.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "InvalidSpec")
    assert "spec.output.credentialsSecretName" in ready.message
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "InvalidSpec")]
    again = service_image.reconcile(body(spec, status_of(first)), now=NOW + timedelta(minutes=1))
    assert again.events == []  # deduplicated: nothing changed
    assert again.conditions == first.conditions  # and no status churn either


def test_fixing_the_spec_recovers_with_a_normal_event() -> None:
    bad = service_image.reconcile(
        body({"registry": {"openshift": {"project": "p1"}}, "image": {"name": "x" * 260}}), now=NOW
    )
    later = NOW + timedelta(minutes=2)
    fixed = service_image.reconcile(
        body({"registry": {"openshift": {"project": "good"}}}, status_of(bad), generation=2), now=later
    )
    ready = fixed.conditions[0]
    assert (ready.status, ready.reason, ready.observed_generation) == ("Unknown", "Pending", 2)
    assert ready.last_transition_time == "2026-11-27T12:02:00Z"
    assert [(e.type, e.reason) for e in fixed.events] == [("Normal", "SpecAccepted")]


@pytest.mark.parametrize(
    ("extra", "present", "absent"),
    [
        ({}, ["CredentialsPublished", "CredentialsValid"], ["PatternPublished", "PolicyPublished"]),
        ({"registryCredentials": {"verify": False}}, ["CredentialsPublished"], ["CredentialsValid"]),
        ({"servicePolicy": {"properties": []}}, ["PolicyPublished"], ["PatternPublished"]),
        ({"pattern": {"name": "p"}}, ["PatternPublished"], ["PolicyPublished"]),
        (
            {"deploymentPolicy": {"name": "d"}, "registryCredentials": {"publish": False}},
            ["PolicyPublished"],
            ["CredentialsPublished", "CredentialsValid", "PatternPublished"],
        ),
    ],
)
def test_publication_conditions_follow_the_spec(extra: dict[str, Any], present: list[str], absent: list[str]) -> None:
    spec = {"imageRefs": [{"name": "hello"}], "service": {"url": "u", "deployment": {"services": {"hello": {}}}}}
    types = [c.type for c in publication.reconcile(body({**spec, **extra}), now=NOW).conditions]
    assert types[:5] == ["Ready", "ImageReady", "Signed", "ServicePublished", "KeyPublished"]
    assert all(t in types for t in present)
    assert not any(t in types for t in absent)
