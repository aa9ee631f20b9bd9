"""The part of the bad-input corpus the API server accepts and the operator must report: each case ends with
a precise condition and a Warning Event (see bad_input_model.py for the vocabulary)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.reliability.bad_input_model import (
    ABSENT_REQUIRED,
    SHA,
    Case,
    Inputs,
    Settles,
    Where,
    definition,
    exchange_secret,
    exchange_user,
    files,
    from_materials,
    key_secret,
    own_exchange_secret,
    url_of,
    use_files,
    valid_key,
    with_valid_key,
)
from tests.reliability.bad_input_support import Env, config_map, read_text, secret

# --- EdgeServiceImage: settles on a condition -----------------------------------------------------------------

NOT_PEM_CA = "-----BEGIN CERTIFICATE-----\n!!not base64 at all!!\n-----END CERTIFICATE-----\n"


def _ca(value: str, key: str = "ca.crt") -> Callable[[Where], list[dict[str, Any]]]:
    return lambda where: [config_map("ca", {key: value})]


def _docker(data: bytes | str, kind: str = "kubernetes.io/dockerconfigjson") -> Inputs:
    return lambda where: [secret("pull", {".dockerconfigjson": data}, kind)]


def _auths(host: str, *pair: str) -> str:
    username, password = pair or ("u", "p")
    return json.dumps({"auths": {host: {"username": username, "password": password}}})


CA_REF = {"registry": {"generic": {"tls": {"caRef": {"name": "ca"}}}}}
SECRET_CA_REF = {"registry": {"generic": {"tls": {"caRef": {"kind": "Secret", "name": "ca"}}}}}
PULL_REF = {"registry": {"generic": {"credentialsSecretRef": {"name": "pull"}}}}
SETTLES_ESI: list[Case] = [
    Case("esi-ca-not-pem", "esi", CA_REF, Settles("CATrusted", "False", "CAInvalid", "holds no PEM certificate"),
         _ca("this is not a certificate")),
    Case("esi-ca-garbage-in-pem", "esi", CA_REF,
         Settles("CATrusted", "False", "CAInvalid", "holds no usable certificate"), _ca(NOT_PEM_CA)),
    Case("esi-ca-private-key-pasted", "esi", CA_REF,
         Settles("CATrusted", "False", "CAInvalid", "holds no PEM certificate"),
         lambda w: [config_map("ca", {"ca.crt": w.env.materials.valid[0]})]),
    Case("esi-ca-secret-not-utf8", "esi", SECRET_CA_REF,
         Settles("CATrusted", "False", "CAInvalid", "holds no PEM certificate"),
         lambda w: [secret("ca", {"ca.crt": b"\xff\xfe\xfd\x00\x80 binary, not PEM"})]),
    Case("esi-ca-key-missing", "esi", CA_REF, Settles("CATrusted", "False", "CANotFound", "has no key ca.crt"),
         _ca("unused", key="tls.crt")),
    Case("esi-ca-configmap-missing", "esi", CA_REF, Settles("CATrusted", "False", "CANotFound", "has no key ca.crt")),
    Case("esi-docker-not-json", "esi", PULL_REF, Settles("CredentialsReady", "False", "InvalidDockerConfig", "pull"),
         _docker("{this is not json"), input_may_be_rejected=True),
    Case("esi-docker-not-utf8", "esi", PULL_REF, Settles("CredentialsReady", "False", "InvalidDockerConfig", "pull"),
         _docker(b"\xff\xfe{\x00}"), input_may_be_rejected=True),
    Case("esi-docker-auths-list", "esi", PULL_REF,
         Settles("CredentialsReady", "False", "InvalidDockerConfig", "no auths entry for 127.0.0.1:1"),
         _docker('{"auths": ["127.0.0.1:1"]}')),
    Case("esi-docker-other-host", "esi", PULL_REF,
         Settles("CredentialsReady", "False", "InvalidDockerConfig", "no auths entry for 127.0.0.1:1"),
         _docker(_auths("registry.example.com"))),
    Case("esi-docker-opaque", "esi", PULL_REF,
         Settles("CredentialsReady", "False", "InvalidDockerConfig", "is not of type kubernetes.io/dockerconfigjson"),
         _docker(_auths("127.0.0.1:1"), kind="Opaque")),
    Case("esi-docker-missing", "esi", PULL_REF,
         Settles("CredentialsReady", "False", "SecretNotFound", "secret pull does not exist")),
    Case("esi-docker-nul-password", "esi", PULL_REF,
         Settles("ImageResolved", "False", "RegistryUnreachable", "127.0.0.1:1", writes=("secrets/{name}-registry",)),
         _docker(_auths("127.0.0.1:1", "u\u0000ser", "pass\u0000word\r\nX-Injected: 1"))),
    Case("esi-repository-over-255", "esi",
         {"registry": {"generic": {"repositoryPrefix": "p" * 200}}, "image": {"name": "n" * 128}},
         Settles("Ready", "False", "InvalidSpec", "would be 335 characters", event="InvalidSpec")),
    Case("esi-output-overwrites-input", "esi",
         {**PULL_REF, "output": {"credentialsSecretName": "pull"}},
         Settles("Ready", "False", "InvalidSpec", "is an input Secret", event="InvalidSpec"),
         _docker(_auths("127.0.0.1:1"))),
    Case("esi-output-overwrites-ca", "esi", {**CA_REF, "output": {"caConfigMapName": "ca"}},
         Settles("Ready", "False", "InvalidSpec", "is an input ConfigMap", event="InvalidSpec"),
         lambda w: [config_map("ca", {"ca.crt": read_text(w.env.exchange["caFile"])})]),
    Case("esi-project-default", "esi", {"registry": {"openshift": {"project": "default"}}},
         Settles("ProjectReady", "False", "NamespaceNotOwned", "adoptExistingNamespace"), provider="openshift"),
    Case("esi-project-other-tenant", "esi", lambda w: {"registry": {"openshift": {"project": w.env.canary_namespace}}},
         Settles("ProjectReady", "False", "NamespaceNotOwned", "was not created by horizon-publisher"),
         provider="openshift"),
    Case("esi-adopt-other-image-project", "esi",
         lambda w: {"registry": {"openshift": {"project": w.env.canary_project, "adoptExistingNamespace": True}}},
         Settles("ProjectReady", "False", "NamespaceNotOwned", "belongs to EdgeServiceImage"), provider="openshift"),
    Case("esi-adopt-other-tenant", "esi",
         lambda w: {"registry": {"openshift": {"project": w.env.victim_namespace, "adoptExistingNamespace": True}}},
         Settles("ProjectReady", "False", "NamespaceNotOwned", "adoptable-by"), provider="openshift"),
]  # fmt: skip


def _ibm_inputs(api_key: bytes | str, key: str = "apikey") -> Inputs:
    return lambda where: [
        secret("ibm-key", {key: api_key}),
        config_map("ibm-ca", {"ca.crt": read_text(where.env.ibm["caFile"])}),
    ]


def _real_key(where: Where) -> list[dict[str, Any]]:
    return _ibm_inputs(str(where.env.ibm["apiKey"]))(where)


SETTLES_IBM: list[Case] = [
    Case("ibm-key-not-utf8", "esi", {}, Settles("TokenReady", "False", "APIKeyMissing", "not base64 UTF-8 text",
         writes=("configmaps/{name}-registry-ca",)), _ibm_inputs(b"\xff\xfe\x80key"), provider="ibm"),
    Case("ibm-key-nul", "esi", {}, Settles("TokenReady", "False", "APIKeyMissing", "holds no usable API key",
         writes=("configmaps/{name}-registry-ca",)), _ibm_inputs("abc\u0000def"), provider="ibm"),
    Case("ibm-key-wrong", "esi", {}, Settles("TokenReady", "False", "InvalidAPIKey", "",
         writes=("configmaps/{name}-registry-ca",)), _ibm_inputs("not-a-valid-key-0123456789"), provider="ibm"),
    Case("ibm-key-missing", "esi", {}, Settles("TokenReady", "False", "APIKeyMissing", "has no key apikey",
         writes=("configmaps/{name}-registry-ca",)), _ibm_inputs("k", key="api-key"), provider="ibm"),
    Case("ibm-namespace-other-account", "esi",
         lambda w: {"registry": {"ibmCloud": {"namespace": w.env.ibm["otherAccountNamespace"]}}},
         Settles("ProjectReady", "False", "NamespaceNotOwned", "", writes=("configmaps/{name}-registry-ca",)),
         _real_key, provider="ibm"),
    Case("ibm-ca-not-pem", "esi", {}, Settles("CATrusted", "False", "CAInvalid", "holds no PEM certificate"),
         lambda w: [secret("ibm-key", {"apikey": "k"}), config_map("ibm-ca", {"ca.crt": "nope"})], provider="ibm"),
]  # fmt: skip

# --- EdgePublication: settles on a condition (shared namespace with a Ready image "hello") ------------------

BIG = "x" * 4096
MANY_MISSING = " ".join(f"$UNSET_VARIABLE_NUMBER_{i}" for i in range(3000))
SIGNED_BAD = "SigningKeyInvalid"
# A container name is a free-form map key: long ones make every "has no container" problem long too.
LONG_CONTAINERS = {f"container-{i:02d}-" + "k" * 200: {"image": f"r.example/c@{SHA}"} for i in range(15)}


def _pem_with_nul(env: Env) -> tuple[str, str | None]:
    private = env.materials.valid[0]
    return private[:100] + "\u0000" + private[100:], None


SETTLES_EPUB: list[Case] = [
    Case("pub-pkcs8-key", "epub", ABSENT_REQUIRED, Settles("Signed", "True", "Signed", "signed with key",
         event="ExchangeRejected"), from_materials(lambda e: (e.materials.pkcs8, e.materials.valid[1]))),
    Case("pub-key-not-pem", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "is not PEM"),
         key_secret("just some text, no PEM here")),
    Case("pub-key-bad-base64", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "is not PEM"),
         key_secret("-----BEGIN RSA PRIVATE KEY-----\n%%%% not base64 %%%%\n-----END RSA PRIVATE KEY-----\n")),
    Case("pub-key-nul-inside", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "is not PEM"),
         from_materials(_pem_with_nul)),
    Case("pub-key-encrypted", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "encrypted"),
         from_materials(lambda e: (e.materials.encrypted, None))),
    Case("pub-key-ec-sec1", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "expected 'RSA PRIVATE KEY'"),
         from_materials(lambda e: (e.materials.ec_sec1, None))),
    Case("pub-key-ec-pkcs8", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "not an RSA key"),
         from_materials(lambda e: (e.materials.ec_pkcs8, None))),
    Case("pub-key-512-bits", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "has 512 bits"),
         from_materials(lambda e: (e.materials.small_rsa, None))),
    Case("pub-cert-of-other-key", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "does not belong"),
         from_materials(lambda e: (e.materials.valid[0], e.materials.other_certificate))),
    Case("pub-public-key-pkcs1", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "'RSA PUBLIC KEY' PEM is refused"),
         from_materials(lambda e: (e.materials.valid[0], e.materials.rsa_public_pkcs1))),
    Case("pub-cert-expired", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "the certificate has expired"),
         from_materials(lambda e: (e.materials.valid[0], e.materials.expired_certificate))),
    Case("pub-cert-is-ca", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "CA certificate"),
         from_materials(lambda e: (e.materials.valid[0], e.materials.ca_certificate))),
    Case("pub-key-not-utf8", "epub", {}, Settles("Signed", "False", SIGNED_BAD, "UTF-8"),
         key_secret(b"\xff\xfe-----BEGIN RSA PRIVATE KEY-----\x80")),
    Case("pub-key-secret-no-private", "epub", {},
         Settles("Signed", "False", SIGNED_BAD, "has no key service.private.key"),
         lambda w: [secret(f"{w.name}-key", {"tls.key": "x"})]),
    Case("pub-private-key-key-dotdot", "epub", lambda w: {"signing": {"keySecretRef": {"privateKeyKey": ".."}}},
         Settles("Signed", "False", SIGNED_BAD, "has no key .."), valid_key),
    Case("pub-generated-validity-3653", "epub",
         {"signing": {"keySecretRef": {"name": "never-created"}, "generateIfMissing": True,
                      "generatedKey": {"bits": 2048, "validityDays": 3653}}},
         Settles("Signed", "False", SIGNED_BAD, "validity_days (validityDays) must be below 3653")),
    Case("pub-exchange-password-crlf", "epub", own_exchange_secret,
         Settles("ServicePublished", "False", "ExchangeUnauthorized", "refused the credentials"),
         with_valid_key(lambda w: exchange_secret(username=exchange_user(w), password="pw\r\nX-Injected: 1")(w))),
    Case("pub-exchange-password-not-utf8", "epub", own_exchange_secret,
         Settles("ServicePublished", "False", "ExchangeCredentialsNotFound", "UTF-8"),
         with_valid_key(lambda w: exchange_secret(username=exchange_user(w), password=b"\xff\xfe\x00pw")(w))),
    Case("pub-exchange-secret-lacks-password", "epub", own_exchange_secret,
         Settles("ServicePublished", "False", "ExchangeCredentialsNotFound", "lacks key"),
         with_valid_key(lambda w: exchange_secret(username=exchange_user(w))(w))),
    Case("pub-exchange-secret-elsewhere", "epub",
         {"exchange": {"credentialsSecretRef": {"name": "exchange-credentials-elsewhere"}}},
         Settles("ServicePublished", "False", "ExchangeCredentialsNotFound", "does not exist"), valid_key),
    Case("pub-exchange-ca-not-pem", "epub",
         lambda w: {"exchange": {"tls": {"caRef": {"name": f"{w.name}-ca"}}}},
         Settles("ServicePublished", "False", "ExchangeTLSError", "CA bundle"),
         with_valid_key(lambda w: config_map(f"{w.name}-ca", {"ca.crt": "not a certificate"}))),
    Case("pub-exchange-ca-missing", "epub", {"exchange": {"tls": {"caRef": {"name": "no-such-ca"}}}},
         Settles("ServicePublished", "False", "ExchangeTLSError", "no-such-ca"), valid_key),
    Case("pub-exchange-ca-secret-not-utf8", "epub",
         lambda w: {"exchange": {"tls": {"caRef": {"kind": "Secret", "name": f"{w.name}-ca"}}}},
         Settles("ServicePublished", "False", "ExchangeTLSError", "key ca.crt is not UTF-8 text"),
         with_valid_key(lambda w: secret(f"{w.name}-ca", {"ca.crt": b"\xff\xfe\x00\x80"}))),
    Case("pub-exchange-url-credentials", "epub",
         lambda w: {"exchange": {"url": str(w.env.exchange["url"]).replace("https://", "https://admin:hunter2@")}},
         Settles("Ready", "False", "InvalidSpec", "must not carry credentials", event="InvalidSpec"), valid_key),
    Case("pub-exchange-org-foreign", "epub", {"exchange": {"org": "IBM"}},
         Settles("ServicePublished", "False", "ExchangeUnauthorized", "IBM/"), valid_key),
    Case("pub-image-elsewhere", "epub", {"imageRefs": [{"name": "esi-ca-not-pem", "containers": ["hello"]}]},
         Settles("ImageReady", "False", "ImageNotFound", "does not exist in"), valid_key),
    Case("pub-container-not-in-deployment", "epub", {"imageRefs": [{"name": "hello", "containers": ["nothere"]}]},
         Settles("Ready", "False", "InvalidSpec", 'has no container "nothere"', event="InvalidSpec"), valid_key),
    Case("pub-user-input-foreign-service", "epub",
         {"pattern": {"name": "bi-pattern", "userInput": [{"serviceUrl": "com.example.someone-else",
                                                           "inputs": [{"name": "X", "value": "1"}]}]}},
         Settles("Ready", "False", "InvalidSpec", "is neither this service", event="InvalidSpec"), valid_key),
    Case("pub-files-in-binary-data", "epub", use_files,
         Settles("Signed", "False", "HorizonFilesNotFound", "not found in the ConfigMap"),
         with_valid_key(lambda w: config_map(f"{w.name}-files", {"hzn.json": "{}"},
                                             {"service.definition.json": b"{}"}))),
    Case("pub-files-configmap-missing", "epub", use_files,
         Settles("Signed", "False", "HorizonFilesNotFound", "does not exist"), valid_key),
    Case("pub-files-url-mismatch", "epub", use_files,
         Settles("Signed", "False", "InvalidServiceDefinition", "does not match spec.service.url"),
         with_valid_key(files(definition(url="com.example.someone-else")))),
    Case("pub-files-org-mismatch", "epub", use_files,
         Settles("Signed", "False", "InvalidServiceDefinition", "does not match spec.exchange.org"),
         with_valid_key(files(definition(org="IBM")))),
    Case("pub-files-hzn-json-array", "epub", use_files,
         Settles("Signed", "False", "InvalidServiceDefinition", "must be a JSON object"),
         with_valid_key(files(definition(), hzn_json="[1, 2]"))),
    Case("pub-files-cluster-deployment", "epub", use_files,
         Settles("Signed", "False", "InvalidServiceDefinition", "clusterDeployment"),
         with_valid_key(files(definition(clusterDeployment='{"operatorYamlArchive": "x"}')))),
    Case("pub-files-3000-unset-variables", "epub", use_files,
         Settles("Signed", "False", "InvalidServiceDefinition", "variable without a value"),
         with_valid_key(files(definition(label=f'"{MANY_MISSING}"')))),
    Case("pub-invalid-spec-huge-message", "epub",
         {"imageRefs": [{"name": f"image-{i}", "containers": [f"absent-{i}-{j}-" + "m" * 100 for j in range(16)]}
                        for i in range(8)],
          "service": {"deployment": {"services": LONG_CONTAINERS}}},
         Settles("Ready", "False", "InvalidSpec", "has no container", event="InvalidSpec"), valid_key),
    Case("pub-near-limits-missing-image", "epub",
         {"imageRefs": [{"name": "absent-image", "containers": ["hello"]}],
          "service": {"label": "l" * 255, "description": "d" * 2048,
                      "userInput": [{"name": f"V{i}", "type": "string", "defaultValue": BIG} for i in range(64)]},
          "deploymentPolicy": {"name": "bi-near-limits", "constraints": ["a == " + "b" * 1019] * 32}},
         Settles("ImageReady", "False", "ImageNotFound", "absent-image"), valid_key),
    Case("pub-url-dot-segments", "epub", lambda w: {"service": {"url": f"{url_of(w)}/../../../orgs/IBM/x~y"}},
         Settles("Ready", "True", "Reconciled", "", publishes=("{url}-..-..-..-orgs-IBM-x-y_1.0.0_amd64",)),
         valid_key),
]  # fmt: skip
