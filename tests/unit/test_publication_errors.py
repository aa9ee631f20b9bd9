"""An API error that quotes key material never reaches a publication's conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from horizon_publisher.clients.kube import KubeError
from horizon_publisher.desired.kube_objects import Owner
from horizon_publisher.reconcile.publication_steps import PublicationContext, run_publication
from horizon_publisher.reconcile.steps import Progress

PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecretmaterial\n-----END RSA PRIVATE KEY-----"


class QuotingKube:
    def get(self, *_: Any) -> None:
        raise KubeError(422, "Invalid", f'Secret "k" is invalid: data: Invalid value: "{PEM}"')


def test_key_material_is_masked() -> None:
    spec = {"exchange": {"org": "o"}, "imageRefs": [{"name": "img"}]}
    progress = Progress(("Ready", "ImageReady"))
    ctx = PublicationContext(
        QuotingKube(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        Owner("ns", "pub", "uid"),
        spec,
        {},
        datetime(2026, 11, 27, tzinfo=UTC),
        progress,
    )
    run_publication(ctx)
    condition = progress.results[-1].condition
    assert (condition.type, condition.reason) == ("ImageReady", "KubernetesAPIError")
    assert "secretmaterial" not in condition.message
