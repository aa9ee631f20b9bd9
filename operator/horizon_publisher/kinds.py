"""The two custom resources, as the API server names them."""

from __future__ import annotations

from dataclasses import dataclass

from horizon_publisher import GROUP, VERSION


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION


SERVICE_IMAGE = Kind(kind="EdgeServiceImage", plural="edgeserviceimages")
PUBLICATION = Kind(kind="EdgePublication", plural="edgepublications")
