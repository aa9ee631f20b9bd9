"""The two custom resources: names, and the conditions each one reports."""

from __future__ import annotations

from dataclasses import dataclass

from horizon_publisher import GROUP, VERSION
from horizon_publisher.conditions import READY


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    # Every condition the kind may report, in reconcile order; Ready first. Which apply depends on the spec.
    condition_types: tuple[str, ...]

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION


SERVICE_IMAGE = Kind(
    kind="EdgeServiceImage",
    plural="edgeserviceimages",
    condition_types=(
        READY,
        "RegistryRouteReady",
        "ProjectReady",
        "ServiceAccountReady",
        "RoleBindingReady",
        "TokenReady",
        "CATrusted",
        "CredentialsReady",
        "ImageCopied",
        "ImageResolved",
    ),
)

PUBLICATION = Kind(
    kind="EdgePublication",
    plural="edgepublications",
    condition_types=(
        READY,
        "ImageReady",
        "Signed",
        "ServicePublished",
        "KeyPublished",
        "CredentialsPublished",
        "CredentialsValid",
        "PatternPublished",
        "PolicyPublished",
    ),
)
