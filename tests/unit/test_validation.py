"""Spec checks beyond the schema: each rule rejects its bad input and accepts the good one."""

from __future__ import annotations

from typing import Any

import pytest

from horizon_publisher.validation import check_publication, check_service_image


def image(**registry: Any) -> dict[str, Any]:
    return {
        "registry": registry or {"openshift": {"project": "edge-images"}},
        "image": {"name": "hello", "tag": "1.0.0", "arches": ["amd64", "arm64"], "layout": "PerArchRepository"},
    }


def with_output(spec: dict[str, Any], **output: str) -> dict[str, Any]:
    return {**spec, "output": output}


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        (
            {**image(), "image": {"name": "x" * 250, "arches": ["ppc64le"]}},
            "spec.image.name",
            "255",
        ),
        (
            with_output(
                image(generic={"host": "r.example.com", "credentialsSecretRef": {"name": "pull"}}),
                credentialsSecretName="pull",
            ),
            "spec.output.credentialsSecretName",
            "input Secret",
        ),
        (
            with_output(
                image(ibmCloud={"namespace": "ns01", "apiKeySecretRef": {"name": "ibm"}}),
                credentialsSecretName="ibm",
            ),
            "spec.output.credentialsSecretName",
            "overwrite",
        ),
        (
            with_output(
                image(generic={"host": "r", "tls": {"caRef": {"kind": "ConfigMap", "name": "ca"}}}),
                caConfigMapName="ca",
            ),
            "spec.output.caConfigMapName",
            "input ConfigMap",
        ),
    ],
)
def test_service_image_problems(spec: dict[str, Any], field: str, fragment: str) -> None:
    problems = check_service_image(spec)
    assert [p.field for p in problems] == [field]
    assert fragment in problems[0].message


@pytest.mark.parametrize(
    "spec",
    [
        image(),
        {**image(), "image": {"name": "x" * 240, "arches": ["amd64"], "layout": "MultiArchIndex"}},
        with_output(
            image(generic={"host": "r", "credentialsSecretRef": {"name": "pull"}}), credentialsSecretName="out"
        ),
        with_output(
            image(generic={"host": "r", "tls": {"caRef": {"kind": "Secret", "name": "ca"}}}), caConfigMapName="ca"
        ),
        {},
    ],
)
def test_service_image_accepts(spec: dict[str, Any]) -> None:
    assert check_service_image(spec) == []


def test_an_image_ref_without_containers_defers_to_the_reconcile() -> None:
    # Its container is named like the image's spec.image.name, which only the reconcile can read.
    spec = publication(imageRefs=[{"name": "web-image"}], service=deployment(web={}, side={}))
    assert check_publication(spec) == []


def publication(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "exchange": {"url": "https://exchange.example.com/v1", "org": "myorg"},
        "imageRefs": [{"name": "hello", "containers": ["hello"]}],
        "service": {"url": "com.example.hello", "version": "1.0.0", "deployment": {"services": {"hello": {}}}},
    }
    spec.update(overrides)
    return spec


def deployment(**services: Any) -> dict[str, Any]:
    return {"url": "com.example.hello", "version": "1.0.0", "deployment": {"services": services}}


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        (publication(exchange={"url": "https://u:p@x.example.com/v1"}), "spec.exchange.url", "credentials"),
        (publication(service=deployment()), "spec.service.deployment.services", "at least one"),
        (publication(service=deployment(web={})), "spec.service.deployment.services", 'no container "hello"'),
        (
            publication(service=deployment(hello={}, side={})),
            "spec.service.deployment.services.side.image",
            "no image",
        ),
        (
            publication(imageRefs=[{"name": "a", "containers": ["hello"]}, {"name": "b", "containers": ["hello"]}]),
            "spec.imageRefs[1].containers",
            "already filled",
        ),
        (
            publication(pattern={"name": "p", "userInput": [{"serviceUrl": "com.example.other", "inputs": []}]}),
            "spec.pattern.userInput[0].serviceUrl",
            "neither",
        ),
    ],
)
def test_publication_problems(spec: dict[str, Any], field: str, fragment: str) -> None:
    problems = check_publication(spec)
    assert field in [p.field for p in problems]
    assert any(fragment in p.message for p in problems if p.field == field)


@pytest.mark.parametrize(
    "spec",
    [
        publication(),
        publication(imageRefs=[{"name": "hello"}]),  # containers default to the image's name
        publication(service=deployment(hello={}, side={"image": "docker.io/library/busybox:1"})),
        publication(service={"url": "com.example.hello", "version": "1", "horizonFilesRef": {"name": "files"}}),
        publication(
            service={**deployment(hello={}), "requiredServices": [{"url": "com.example.dep"}]},
            deploymentPolicy={"name": "p", "userInput": [{"serviceUrl": "com.example.dep"}]},
        ),
    ],
)
def test_publication_accepts(spec: dict[str, Any]) -> None:
    assert check_publication(spec) == []
