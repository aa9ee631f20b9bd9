"""The vocabulary of the bad-input corpus: a case, what it expects, where it runs, and the base manifests
and input builders the tables in bad_input_cases.py and bad_input_settles.py are written with.

A case is (id, kind, spec overrides, inputs created first, expectation). ``Rejected``: ``kubectl apply``
(strict field validation, kubectl's default) fails with ``fragment`` in its error. ``Settles``: the operator
reports ``condition`` with that status and reason, a message holding ``fragment``, and (for a failure) a
Warning Event with the reason. ``gap`` marks what the operator gets wrong today (the test is a strict xfail
that says why). Overrides merge into a base manifest; ``None`` removes a field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tests.reliability.bad_input_support import Env, config_map, secret

Kind = Literal["esi", "epub"]
SHA = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class Where:
    """Where one case runs: the sandbox, its namespace, the resource's name."""

    env: Env
    namespace: str
    name: str


Spec = Mapping[str, Any] | Callable[[Where], Mapping[str, Any]]
Inputs = Callable[[Where], list[dict[str, Any]]]


@dataclass(frozen=True)
class Rejected:
    fragment: str


@dataclass(frozen=True)
class Settles:
    condition: str
    status: str
    reason: str
    fragment: str
    event: str | None = None  # Warning Event reason; None: the condition's reason when it failed
    publishes: tuple[str, ...] = ()  # Exchange service ids a valid resource may write ({url} formatted)
    writes: tuple[str, ...] = ()  # "plural/NAME" the operator may write next to it ({name} formatted)


def _nothing(_: Where) -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class Case:
    id: str  # also the resource's name unless ``metadata_name`` is set
    kind: Kind
    spec: Spec
    expect: Rejected | Settles
    inputs: Inputs = _nothing
    provider: Literal["generic", "openshift", "ibm"] = "generic"  # EdgeServiceImage base manifest
    metadata_name: str | None = None
    before: Spec | None = None  # a first version that is accepted (transition rules); suspended
    gap: str = ""
    crash: str = ""  # text of the traceback a gap case causes today (tolerated in the operator log)
    input_may_be_rejected: bool = False  # a real API server refuses the input itself: that is fine too

    @property
    def name(self) -> str:
        return self.metadata_name if self.metadata_name is not None else self.id

    def spec_for(self, where: Where) -> Mapping[str, Any]:
        return self.spec(where) if callable(self.spec) else self.spec


def url_of(where: Where) -> str:
    """The service url of an EdgePublication case (its own, so no two cases touch one Exchange service)."""
    return f"com.example.bi.{where.name}"


# --- base manifests ---------------------------------------------------------------------------------------


def esi_base(case: Case, where: Where) -> dict[str, Any]:
    image = {"name": "hello", "tag": "1.0.0", "arches": ["amd64"]}
    registry: dict[str, Any]
    if case.provider == "openshift":
        registry = {"openshift": {"project": f"{where.namespace}-images"[:63]}}
    elif case.provider == "ibm":
        ibm = where.env.ibm
        registry = {
            "ibmCloud": {
                "host": ibm["host"],
                "namespace": f"bi-{where.name}"[:30].rstrip("-_"),
                "apiKeySecretRef": {"name": "ibm-key"},
                "endpoints": {"iamURL": ibm["iamURL"], "registryAPIURL": ibm["registryAPIURL"]},
                "tls": {"caRef": {"kind": "ConfigMap", "name": "ibm-ca"}},
            }
        }
    else:  # connection refused at once: a case that gets that far fails fast and without DNS
        registry = {"generic": {"host": "127.0.0.1:1"}}
    return {"registry": registry, "image": image}


def epub_base(where: Where) -> dict[str, Any]:
    exchange = where.env.exchange
    return {
        "exchange": {
            "url": exchange["url"],
            "org": exchange["org"],
            "credentialsSecretRef": {"name": "exchange-credentials"},
            "tls": {"caRef": {"kind": "ConfigMap", "name": "exchange-ca", "key": "ca.crt"}},
        },
        "imageRefs": [{"name": "hello", "containers": ["hello"]}],
        "service": {
            "url": url_of(where),
            "version": "1.0.0",
            "arches": ["amd64"],
            "deployment": {"services": {"hello": {"privileged": False}}},
        },
        "signing": {"keySecretRef": {"name": f"{where.name}-key"}},
    }


def key_secret(private: bytes | str, public: bytes | str | None = None) -> Inputs:
    def inputs(where: Where) -> list[dict[str, Any]]:
        data = {"service.private.key": private, **({"service.public.pem": public} if public is not None else {})}
        return [secret(f"{where.name}-key", data)]

    return inputs


def valid_key(where: Where) -> list[dict[str, Any]]:
    private, certificate = where.env.materials.valid
    return key_secret(private, certificate)(where)


def with_valid_key(*objects: Callable[[Where], dict[str, Any]]) -> Inputs:
    return lambda where: [*valid_key(where), *(make(where) for make in objects)]


def from_materials(pick: Callable[[Env], tuple[str, str | None]]) -> Inputs:
    return lambda where: key_secret(*pick(where.env))(where)


ABSENT_REQUIRED = {"service": {"requiredServices": [{"url": "com.example.bi.absent", "version": "1.0.0"}]}}


def files(definition: str, hzn_json: str = '{"MetadataVars": {}}') -> Callable[[Where], dict[str, Any]]:
    def make(where: Where) -> dict[str, Any]:
        text = definition.replace("{url}", url_of(where)).replace("{org}", where.env.org)
        return config_map(f"{where.name}-files", {"service.definition.json": text, "hzn.json": hzn_json})

    return make


def definition(url: str = "{url}", org: str = "{org}", **extra: str) -> str:
    fields = {"org": f'"{org}"', "url": f'"{url}"', "version": '"1.0.0"', "arch": '"$ARCH"', **extra}
    fields.setdefault("deployment", '{"services": {"hello": {"image": "x"}}}')
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


def use_files(where: Where) -> Mapping[str, Any]:
    return {"service": {"deployment": None, "horizonFilesRef": {"name": f"{where.name}-files"}}}


def exchange_secret(**data: bytes | str) -> Callable[[Where], dict[str, Any]]:
    return lambda where: secret(f"{where.name}-exchange", data)


def own_exchange_secret(where: Where) -> Mapping[str, Any]:
    return {"exchange": {"credentialsSecretRef": {"name": f"{where.name}-exchange"}}}


def exchange_user(where: Where) -> str:
    return str(where.env.exchange["user"])
