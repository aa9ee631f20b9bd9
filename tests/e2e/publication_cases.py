"""Scenario data for the EdgePublication e2e tests: the bad-input table (what to arrange, the condition it
must end with) and someone else's Exchange service that deletion must never touch."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from horizon_publisher.desired import exchange_bodies
from horizon_publisher.signing import generate_signing_key
from tests.e2e.publication_support import Publisher, exchange_snapshot, service_url, sid_of


@dataclass(frozen=True)
class BadInput:
    """``arrange`` makes what the case needs in the namespace and returns the spec override."""

    arrange: Callable[[Publisher, str, str, str], dict[str, Any]]
    condition: str
    reason: str
    override: Mapping[str, Any] = field(default_factory=dict)


def _create(publisher: Publisher, namespace: str, kind: str, body: dict[str, Any]) -> None:
    publisher.cluster.kube.create(f"/api/v1/namespaces/{namespace}/{kind}", body)


def _horizon_files(definition: str) -> Callable[[Publisher, str, str, str], dict[str, Any]]:
    """A horizon/ folder ConfigMap (``definition`` with ``{url}`` filled) replacing the inline deployment."""

    def arrange(publisher: Publisher, namespace: str, name: str, url: str) -> dict[str, Any]:
        data = {
            "hzn.json": json.dumps({"HZN_ORG_ID": publisher.org, "MetadataVars": {}}),
            "service.definition.json": definition.replace("{url}", url),
        }
        _create(publisher, namespace, "configmaps", {"metadata": {"name": f"{name}-files"}, "data": data})
        return {"service": {"deployment": None, "horizonFilesRef": {"name": f"{name}-files"}}}

    return arrange


def _malformed_key(publisher: Publisher, namespace: str, name: str, _: str) -> dict[str, Any]:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n"
    data = {"service.private.key": pem, "service.public.pem": "not a certificate"}
    _create(publisher, namespace, "secrets", {"metadata": {"name": f"{name}-signing-key"}, "stringData": data})
    return {}


def _wrong_password(publisher: Publisher, namespace: str, name: str, _: str) -> dict[str, Any]:
    data = {"username": publisher.endpoints["user"], "password": "not-the-password"}
    _create(publisher, namespace, "secrets", {"metadata": {"name": f"{name}-exchange"}, "stringData": data})
    return {"exchange": {"credentialsSecretRef": {"name": f"{name}-exchange"}}}


def _nothing(*_: str | Publisher) -> dict[str, Any]:
    return {}


_UNSET_VARIABLE = json.dumps(
    {
        "org": "$HZN_ORG_ID",
        "url": "{url}",
        "version": "1.0.0",
        "arch": "$ARCH",
        "label": "$NO_SUCH_VARIABLE",
        "sharable": "multiple",
        "deployment": {"services": {"hello": {"image": "unused", "privileged": False}}},
    }
)
BAD_INPUT: dict[str, BadInput] = {
    "service definition not JSON": BadInput(
        _horizon_files('{"url": "{url}", "version": '), "Signed", "InvalidServiceDefinition"
    ),
    "variable without value": BadInput(_horizon_files(_UNSET_VARIABLE), "Signed", "InvalidServiceDefinition"),
    "signing Secret missing": BadInput(
        _nothing, "Signed", "SigningKeyNotFound", {"signing": {"generateIfMissing": False, "generatedKey": None}}
    ),
    "malformed key Secret": BadInput(_malformed_key, "Signed", "SigningKeyInvalid"),
    "required service absent": BadInput(
        _nothing,
        "ServicePublished",
        "ExchangeRejected",
        {"service": {"requiredServices": [{"url": "com.example.absent-required", "version": "1.0.0"}]}},
    ),
    "wrong Exchange password": BadInput(_wrong_password, "ServicePublished", "ExchangeUnauthorized"),
    "sidecar image by tag": BadInput(
        _nothing,
        "Signed",
        "UnpinnedImage",
        {
            "service": {
                "deployment": {
                    "services": {
                        "hello": {"privileged": False, "network": ""},
                        "sidecar": {"image": "quay.io/example/sidecar:latest"},
                    }
                }
            }
        },
    ),
}


def arrange_bad_input(publisher: Publisher, bad: BadInput, namespace: str, name: str, url: str) -> dict[str, Any]:
    """Arrange the case; the spec override (``None`` values remove fields of the base manifest)."""
    return {**bad.override, **bad.arrange(publisher, namespace, name, url)}


def unrelated_service(publisher: Publisher) -> tuple[str, dict[str, Any]]:
    """Someone else's service in the same org, with a key and a dockauth: deletion must never touch it."""
    url = service_url("unrelated")
    sid = sid_of(url, "amd64")
    body = exchange_bodies.service_body(
        {"url": url, "version": "1.0.0"}, org=publisher.org, arch="amd64", deployment="", signature=""
    )
    assert publisher.exchange.ensure_service(sid, body) == "created"
    _, certificate = generate_signing_key(bits=2048, organization=publisher.org, common_name="someone else")
    publisher.exchange.put_service_key(sid, "someone-else.pem", certificate)
    publisher.exchange.add_dockauth(sid, "registry.example.com", "someone", "someone-elses-token")
    return sid, exchange_snapshot(publisher, sid)
