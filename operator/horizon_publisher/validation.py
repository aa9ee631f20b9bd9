"""Spec checks that the CRD's schema and CEL rules cannot express (pure).

The API server already enforces types, patterns, enums and the cross-field CEL rules; what is left
here needs knowledge of Horizon, OpenShift or the registry protocol, or reads more naturally in
Python. Each problem names the field, so the message in the status points at the line to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# distribution: a repository name is at most 255 characters.
_MAX_REPOSITORY = 255


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_service_image(spec: Mapping[str, Any]) -> list[Problem]:
    registry = _obj(spec.get("registry"))
    image = _obj(spec.get("image"))
    # Reserved OpenShift project names are refused by the CRD's CEL rules already.
    return _check_repository_length(registry, image) + _check_output_names(spec, registry, image)


def _repository_prefix(registry: Mapping[str, Any]) -> str:
    for provider, key in (("openshift", "project"), ("ibmCloud", "namespace"), ("generic", "repositoryPrefix")):
        value = _obj(registry.get(provider)).get(key)
        if value:
            return f"{value}/"
    return ""


def _check_repository_length(registry: Mapping[str, Any], image: Mapping[str, Any]) -> list[Problem]:
    name = str(image.get("name") or "")
    suffixes = [f"_{arch}" for arch in _list(image.get("arches"))] or [""]
    if image.get("layout") == "MultiArchIndex":
        suffixes = [""]
    longest = max(len(_repository_prefix(registry) + name + suffix) for suffix in suffixes)
    if longest > _MAX_REPOSITORY:
        return [Problem("spec.image.name", f"the repository path would be {longest} characters; registries allow 255")]
    return []


def _check_output_names(
    spec: Mapping[str, Any], registry: Mapping[str, Any], image: Mapping[str, Any]
) -> list[Problem]:
    """The operator writes these objects; they must never be objects the user gave us to read."""
    output = _obj(spec.get("output"))
    inputs_secrets = {
        _obj(_obj(registry.get("generic")).get("credentialsSecretRef")).get("name"),
        _obj(_obj(registry.get("ibmCloud")).get("apiKeySecretRef")).get("name"),
        _obj(_obj(image.get("source")).get("credentialsSecretRef")).get("name"),
    } - {None}
    ca_refs = [_obj(_obj(_obj(registry.get(p)).get("tls")).get("caRef")) for p in ("ibmCloud", "generic")] + [
        _obj(_obj(_obj(image.get("source")).get("tls")).get("caRef"))
    ]
    input_secrets = inputs_secrets | {r.get("name") for r in ca_refs if r.get("kind") == "Secret"}
    input_configmaps = {r.get("name") for r in ca_refs if r.get("kind", "ConfigMap") == "ConfigMap"} - {None}
    problems = []
    secret_name = output.get("credentialsSecretName")
    if secret_name and secret_name in input_secrets:
        problems.append(
            Problem(
                "spec.output.credentialsSecretName",
                f'"{secret_name}" is an input Secret; the operator would overwrite it',
            )
        )
    configmap_name = output.get("caConfigMapName")
    if configmap_name and configmap_name in input_configmaps:
        problems.append(
            Problem(
                "spec.output.caConfigMapName",
                f'"{configmap_name}" is an input ConfigMap; the operator would overwrite it',
            )
        )
    return problems


def check_publication(spec: Mapping[str, Any]) -> list[Problem]:
    problems = _check_exchange_url(str(_obj(spec.get("exchange")).get("url") or ""))
    service = _obj(spec.get("service"))
    if "deployment" in service:
        problems += _check_deployment_images(_obj(service.get("deployment")), _list(spec.get("imageRefs")))
    problems += _check_user_input_targets(spec, service)
    return problems


def _check_exchange_url(url: str) -> list[Problem]:
    if url and (urlsplit(url).username or urlsplit(url).password):
        return [
            Problem("spec.exchange.url", "must not carry credentials; put them in spec.exchange.credentialsSecretRef")
        ]
    return []


def _claimed_containers(image_refs: Iterable[Any]) -> tuple[dict[str, str], list[Problem], bool]:
    """Containers named by imageRefs, duplicates, and whether some entry relies on its default.

    An entry without ``containers`` fills the container named like its image's ``spec.image.name``,
    which lives in another object: the reconcile checks those, not this pure function.
    """
    claimed: dict[str, str] = {}
    problems: list[Problem] = []
    defaulted = False
    for index, raw in enumerate(image_refs):
        ref = _obj(raw)
        name = str(ref.get("name") or "")
        containers = _list(ref.get("containers"))
        defaulted |= not containers
        for container in containers:
            if container in claimed:
                problems.append(
                    Problem(
                        f"spec.imageRefs[{index}].containers",
                        f'container "{container}" is already filled by image "{claimed[container]}"',
                    )
                )
            claimed[container] = name
    return claimed, problems, defaulted


def _check_deployment_images(deployment: Mapping[str, Any], image_refs: list[Any]) -> list[Problem]:
    field = "spec.service.deployment.services"
    services = _obj(deployment.get("services"))
    if not services:
        return [Problem(field, "must name at least one container")]
    claimed, problems, defaulted = _claimed_containers(image_refs)
    for container, image in sorted(claimed.items()):
        if container not in services:
            known = ", ".join(sorted(services))
            problems.append(Problem(field, f'has no container "{container}" for image "{image}" (it has: {known})'))
    if not defaulted:
        for container, definition in sorted(services.items()):
            if container not in claimed and not _obj(definition).get("image"):
                problems.append(Problem(f"{field}.{container}.image", "no image and no spec.imageRefs entry fills it"))
    return problems


def _check_user_input_targets(spec: Mapping[str, Any], service: Mapping[str, Any]) -> list[Problem]:
    known = {service.get("url")} | {_obj(r).get("url") for r in _list(service.get("requiredServices"))}
    problems = []
    for section in ("pattern", "deploymentPolicy"):
        for index, entry in enumerate(_list(_obj(spec.get(section)).get("userInput"))):
            target = _obj(entry).get("serviceUrl")
            if target and target not in known:
                problems.append(
                    Problem(
                        f"spec.{section}.userInput[{index}].serviceUrl",
                        f'"{target}" is neither this service nor one of its requiredServices',
                    )
                )
    return problems
