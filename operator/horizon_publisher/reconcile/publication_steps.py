"""EdgePublication: ``hzn exchange service publish`` (+ pattern / deployment policy), idempotent.

Steps, each with its condition: ImageReady (the EdgeServiceImages are Ready), Signed (deployment
per arch with digest-pinned images, signed with our key; an unchanged deployment whose stored
signature verifies is never re-signed), ServicePublished, KeyPublished, CredentialsPublished,
CredentialsValid, PolicyPublished, PatternPublished. Nothing is written to the Exchange before
every input (images, files, key) is known good.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint, ExchangeError
from horizon_publisher.clients.kube import CONFIG_MAPS, SECRETS, SERVICE_IMAGES, Kube, KubeError
from horizon_publisher.clients.registry import RegistryEndpoint, RegistryError
from horizon_publisher.conditions import timestamp
from horizon_publisher.desired import exchange_bodies
from horizon_publisher.desired.deployment import DeploymentError, deployment_string, pin_images, unpinned_containers
from horizon_publisher.desired.kube_objects import Owner, read_docker_config
from horizon_publisher.horizon_files import (
    HorizonFilesError,
    ServiceDefinition,
    definition_from_spec,
    for_arch,
    load_service_definition,
    merge_with_spec,
)
from horizon_publisher.logging_setup import redact
from horizon_publisher.reconcile.exchange_memory import DockAuthRecord, ExchangeMemory, ServiceKey, fingerprint
from horizon_publisher.reconcile.openshift_image import RegistryFactory
from horizon_publisher.reconcile.outcome import EventNote
from horizon_publisher.reconcile.steps import Progress, StepResult, failed, ok, waiting
from horizon_publisher.signing import (
    SigningKey,
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
    load_signing_key_lazily,
    sign,
    signature_still_valid,
)

ExchangeFactory = Callable[[ExchangeEndpoint], ExchangeClient]


@dataclass
class Image:
    name: str  # the EdgeServiceImage
    containers: list[str]
    host: str
    digests: dict[str, str]  # arch -> pinned reference HOST/PATH@sha256:...
    credentials: tuple[str, str] | None
    ca_pem: str


@dataclass
class PublicationContext:
    kube: Kube
    exchange: ExchangeClient
    registry_factory: RegistryFactory
    owner: Owner
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    now: datetime
    progress: Progress
    images: list[Image] = field(default_factory=list)
    arches: list[str] = field(default_factory=list)
    definitions: dict[str, ServiceDefinition] = field(default_factory=dict)  # per arch
    deployments: dict[str, str] = field(default_factory=dict)  # arch -> deployment string
    signatures: dict[str, str] = field(default_factory=dict)
    key: SigningKey | None = None
    service_ids: dict[str, str] = field(default_factory=dict)
    stored: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # per arch, as read by Signed
    created: set[str] = field(default_factory=set)  # arches whose service this pass created (no keys, no dockauths)
    memory: ExchangeMemory | None = None  # what earlier passes confirmed on the Exchange (None: read everything)

    @property
    def org(self) -> str:
        return str(self.spec["exchange"]["org"])

    def service_key(self, service_id: str) -> ServiceKey:
        endpoint = self.exchange.endpoint
        return (endpoint.url, self.org, endpoint.username, service_id)


def image_ready_step(ctx: PublicationContext) -> StepResult:
    for ref in ctx.spec.get("imageRefs") or []:
        name = str(ref.get("name"))
        obj = ctx.kube.get(SERVICE_IMAGES, ctx.owner.namespace, name)
        if obj is None:
            return failed(
                "ImageReady", "ImageNotFound", f"EdgeServiceImage {name} does not exist in {ctx.owner.namespace}", 30.0
            )
        status = obj.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        if not ready:
            return waiting("ImageReady", "WaitingForImage", f"EdgeServiceImage {name} is not Ready yet", 10.0)
        host = str((status.get("registry") or {}).get("host") or "")
        secret_name = (status.get("credentials") or {}).get("secretName")
        secret = ctx.kube.get(SECRETS, ctx.owner.namespace, str(secret_name)) if secret_name else None
        ca_name = (status.get("credentials") or {}).get("caConfigMapName")
        ca = ctx.kube.get(CONFIG_MAPS, ctx.owner.namespace, str(ca_name)) if ca_name else None
        ctx.images.append(
            Image(
                name=name,
                containers=list(ref.get("containers") or [str((obj.get("spec") or {}).get("image", {}).get("name"))]),
                host=host,
                digests={str(i["arch"]): str(i["pinnedReference"]) for i in status.get("images") or []},
                credentials=read_docker_config(secret, host),
                ca_pem=str(((ca or {}).get("data") or {}).get("ca.crt") or ""),
            )
        )
    wanted = [str(a) for a in (ctx.spec.get("service") or {}).get("arches") or []]
    common = set.intersection(*(set(i.digests) for i in ctx.images)) if ctx.images else set()
    ctx.arches = wanted or sorted(common)
    missing = [a for a in ctx.arches if a not in common]
    if missing or not ctx.arches:
        return failed("ImageReady", "ArchNotResolved", f"no resolved digest for {', '.join(missing) or 'any arch'}")
    return ok("ImageReady", "ImagesResolved", f"{len(ctx.images)} image(s), arches {', '.join(ctx.arches)}")


def signed_step(ctx: PublicationContext) -> StepResult:
    try:
        definition = _service_definition(ctx)
        ctx.definitions = {arch: for_arch(definition, arch) for arch in ctx.arches}
        ctx.key = _signing_key(ctx)
    except (HorizonFilesError, SigningKeyError, _Missing) as error:
        return failed("Signed", error.reason, error.message)
    _read_services(ctx)
    for arch, arch_definition in ctx.definitions.items():
        pinned = {c: image.digests[arch] for image in ctx.images for c in image.containers}
        try:
            pinned_deployment = pin_images(arch_definition.deployment, pinned)
            deployment = deployment_string(pinned_deployment)
        except DeploymentError as error:
            return failed("Signed", "ContainerNotFound", str(error))
        unpinned = unpinned_containers(pinned_deployment)
        if unpinned:
            return failed(
                "Signed",
                "UnpinnedImage",
                f"container(s) {', '.join(unpinned)} name no image digest: list them in spec.imageRefs[].containers "
                "or write HOST/PATH@sha256:... in the deployment (nothing unpinned is signed)",
            )
        stored = ctx.stored.get(arch) or {}
        ctx.deployments[arch] = deployment
        previous = str(stored.get("deploymentSignature") or "")
        if stored.get("deployment") == deployment and signature_still_valid(deployment, previous, ctx.key):
            ctx.signatures[arch] = previous  # PSS is randomised: never re-sign what still verifies
            continue
        try:
            ctx.signatures[arch] = sign(deployment, ctx.key)
        except SigningKeyError as error:  # the private key is first read here
            return failed("Signed", error.reason, error.message)
    signing = ctx.progress.status.setdefault("signing", {})
    signing.update(keyId=ctx.key.key_id, secretName=str(_key_ref(ctx).get("name")))
    return ok("Signed", "Signed", f"{len(ctx.arches)} deployment(s) signed with key {ctx.key.key_id}")


def _read_services(ctx: PublicationContext) -> None:
    """The services of every arch in one read (they share url and version). On an Exchange error nothing is
    known: Signed signs afresh and ServicePublished reads each service again and reports the answer."""
    for arch, definition in ctx.definitions.items():
        ctx.service_ids[arch] = ctx.exchange.service_id(definition.url, definition.version, arch)
    first = _first(ctx)
    with contextlib.suppress(ExchangeError):
        found = ctx.exchange.find_services(first.url, first.version)
        ctx.stored = {arch: found.get(service_id) for arch, service_id in ctx.service_ids.items()}


class _Missing(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _service_definition(ctx: PublicationContext) -> ServiceDefinition:
    service = ctx.spec.get("service") or {}
    files_ref = service.get("horizonFilesRef")
    if not files_ref:
        return definition_from_spec(service, org=ctx.org)
    config_map = ctx.kube.get(CONFIG_MAPS, ctx.owner.namespace, str(files_ref["name"]))
    if config_map is None:
        raise _Missing("HorizonFilesNotFound", f"configmap {files_ref['name']} does not exist")
    definition = load_service_definition(
        dict(config_map.get("data") or {}),
        definition_key=str(files_ref.get("serviceDefinitionKey") or "service.definition.json"),
        hzn_json_key=str(files_ref.get("hznJsonKey") or "hzn.json"),
        overrides={str(k): str(v) for k, v in (files_ref.get("variables") or {}).items()},
        org=ctx.org,
    )
    return merge_with_spec(definition, service, org=ctx.org)


def _key_ref(ctx: PublicationContext) -> Mapping[str, Any]:
    return (ctx.spec.get("signing") or {}).get("keySecretRef") or {}


def _signing_key(ctx: PublicationContext) -> SigningKey:
    signing = ctx.spec.get("signing") or {}
    ref = _key_ref(ctx)
    private_key, public_key = (
        str(ref.get("privateKeyKey") or "service.private.key"),
        str(ref.get("publicKeyKey") or "service.public.pem"),
    )
    secret = ctx.kube.get(SECRETS, ctx.owner.namespace, str(ref.get("name")))
    if secret is None:
        if not signing.get("generateIfMissing"):
            raise _Missing(
                "SigningKeyNotFound", f"secret {ref.get('name')} does not exist (generateIfMissing is false)"
            )
        generated = signing.get("generatedKey") or {}
        private_pem, certificate_pem = generate_signing_key(
            bits=int(generated.get("bits") or 4096),
            organization=str(generated.get("organization") or ctx.org),
            common_name=str(generated.get("commonName") or f"{ctx.owner.namespace}/{ctx.owner.name}"),
            validity_days=int(generated.get("validityDays") or 1461),
        )
        data = {private_key: private_pem, public_key: certificate_pem}
        ctx.kube.create(
            SECRETS,
            ctx.owner.namespace,
            {
                "metadata": {"name": ref.get("name"), "labels": ctx.owner.labels()},
                "type": "Opaque",
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            },
        )
        ctx.progress.status.setdefault("signing", {})["generated"] = True
        return load_signing_key(private_pem, certificate_pem)
    data = secret.get("data") or {}
    name = ref.get("name")
    if private_key not in data:
        raise SigningKeyError("SigningKeyInvalid", f"secret {name} has no key {private_key}")

    def text(key: str) -> str:
        try:
            return base64.b64decode(data[key], validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise SigningKeyError("SigningKeyInvalid", f"secret {name} key {key} is not UTF-8 PEM text") from None

    # The private key is decoded and parsed only if a deployment has to be signed (see signed_step).
    public = text(public_key) if public_key in data else None
    return load_signing_key_lazily(lambda: text(private_key), public)


def service_step(ctx: PublicationContext) -> StepResult:
    published = []
    events: list[EventNote] = []
    for arch, definition in ctx.definitions.items():
        body = exchange_bodies.service_body(
            definition.service_fields(),
            org=ctx.org,
            arch=arch,
            deployment=ctx.deployments[arch],
            signature=ctx.signatures[arch],
        )
        if arch in ctx.stored:
            result = ctx.exchange.ensure_service(ctx.service_ids[arch], body, observed=ctx.stored[arch])
        else:
            result = ctx.exchange.ensure_service(ctx.service_ids[arch], body)
        if result == "created":
            ctx.created.add(arch)
        previous = {s.get("arch"): s for s in ctx.status.get("services") or []}.get(arch) or {}
        changed = result != "unchanged" or not previous.get("publishedTime")
        deployment_hash = "sha256:" + hashlib.sha256(ctx.deployments[arch].encode()).hexdigest()
        note = _service_event(ctx, arch, result, previous.get("deploymentHash") != deployment_hash)
        if note is not None:
            events.append(note)
        published.append(
            {
                "arch": arch,
                "id": ctx.service_ids[arch],
                "deploymentHash": deployment_hash,
                "images": [
                    {
                        "container": c,
                        "imageRef": image.name,
                        "digest": image.digests[arch].rsplit("@", 1)[1],
                        "pinnedReference": image.digests[arch],
                    }
                    for image in ctx.images
                    for c in image.containers
                ],
                "dockAuths": previous.get("dockAuths") or [],
                "publishedTime": timestamp(ctx.now) if changed else previous["publishedTime"],
            }
        )
    latest = max((str(p["publishedTime"]) for p in published), default="")
    ctx.progress.status.update(
        services=published,
        publishedCount=len(published),
        lastPublishedTime=latest or None,
        version=_first(ctx).version,
        exchange={"url": ctx.spec["exchange"]["url"], "org": ctx.org},
    )
    return ok("ServicePublished", "Published", f"{len(published)} service(s) in {ctx.org}", *merge_events(events))


def merge_events(events: list[EventNote]) -> list[EventNote]:
    """One Event per reason for all the services of a pass (six arches make one line, not six Events)."""
    merged: dict[str, list[EventNote]] = {}
    for event in events:
        merged.setdefault(event.reason, []).append(event)
    return [EventNote(same[0].type, reason, "; ".join(e.message for e in same)) for reason, same in merged.items()]


def _service_event(ctx: PublicationContext, arch: str, result: str, deployment_changed: bool) -> EventNote | None:
    """What a user wants to hear about one service: first published, re-signed for new images, or updated."""
    sid = f"{ctx.org}/{ctx.service_ids[arch]}"
    digests = ", ".join(image.digests[arch].rsplit("/", 1)[-1] for image in ctx.images)
    if result == "created":
        return EventNote("Normal", "Published", f"published {sid} ({digests})")
    if result == "updated" and deployment_changed:
        return EventNote("Normal", "Resigned", f"deployment of {sid} changed: re-signed and republished ({digests})")
    if result == "updated":
        return EventNote("Normal", "Updated", f"{sid} updated in the Exchange (deployment and signature unchanged)")
    return None


def key_step(ctx: PublicationContext) -> StepResult:
    assert ctx.key is not None
    key_id = ctx.key.key_id
    events: list[EventNote] = []
    for arch, service_id in ctx.service_ids.items():
        service = ctx.service_key(service_id)
        known = _known_keys(ctx, arch, service)
        if key_id in known:
            continue
        ctx.exchange.put_service_key(service_id, key_id, ctx.key.public_pem)
        events.append(EventNote("Normal", "KeyPublished", f"public key {key_id} added to {service_id}"))
        if ctx.memory is not None:
            ctx.memory.confirm_keys(service, known | {key_id})
    # An old key this resource published goes once every service is signed with the new one.
    previous = [str(k) for k in (ctx.status.get("signing") or {}).get("publishedKeyIds") or []]
    for old in previous:
        if old != key_id:
            for service_id in ctx.service_ids.values():
                if ctx.memory is not None:
                    ctx.memory.forget_keys(ctx.service_key(service_id))
                if ctx.exchange.delete_service_key(service_id, old):
                    events.append(EventNote("Normal", "KeyRetired", f"old key {old} removed from {service_id}"))
    ctx.progress.status.setdefault("signing", {})["publishedKeyIds"] = [key_id]
    return ok("KeyPublished", "Published", f"key {key_id} published on every service", *merge_events(events))


def _known_keys(ctx: PublicationContext, arch: str, service: ServiceKey) -> frozenset[str]:
    """The key ids on the service: none on one created in this pass, else confirmed by an earlier pass
    while fresh, else read (and remembered)."""
    if arch in ctx.created:
        return frozenset()
    known = ctx.memory.key_ids(service) if ctx.memory is not None else None
    if known is None:
        known = frozenset(ctx.exchange.get_service_keys(service[3]))
        if ctx.memory is not None:
            ctx.memory.confirm_keys(service, known)
    return known


def _known_dockauths(ctx: PublicationContext, arch: str, service: ServiceKey) -> dict[int, DockAuthRecord]:
    """The service's dockauths as (registry, username, token fingerprint): none on one created in this pass,
    else confirmed by an earlier pass while fresh, else read."""
    if arch in ctx.created:
        return {}
    known = ctx.memory.dockauths(service) if ctx.memory is not None else None
    if known is not None:
        return known
    return {
        int(d["dockAuthId"]): (str(d.get("registry")), str(d.get("username")), fingerprint(str(d.get("token"))))
        for d in ctx.exchange.list_dockauths(service[3])
    }


def credentials_step(ctx: PublicationContext) -> StepResult:
    services = {s["arch"]: s for s in ctx.progress.status.get("services") or []}
    events: list[EventNote] = []
    for image in ctx.images:
        if image.credentials is None:
            return failed("CredentialsPublished", "NoCredentials", f"EdgeServiceImage {image.name} has no credentials")
    for arch, service_id in ctx.service_ids.items():
        service = ctx.service_key(service_id)
        ours = {int(d["id"]): d for d in services[arch].get("dockAuths") or []}
        existing = _known_dockauths(ctx, arch, service)
        if ctx.memory is not None:
            ctx.memory.forget_dockauths(service)  # until this pass's writes are done: a failure means read again
        kept = []
        for image in ctx.images:
            username, token = image.credentials  # type: ignore[misc]
            wanted = (image.host, username, fingerprint(token))
            match = next((i for i, row in existing.items() if i in ours and row == wanted), None)
            if match is None:
                match = ctx.exchange.add_dockauth(service_id, image.host, username, token)
                existing[match] = wanted
                if ours:  # a credential replaced one we had published: rotation, not first publication
                    events.append(
                        EventNote(
                            "Normal",
                            "DockAuthRotated",
                            f"new registry credentials for {image.host} (user {username}) on {ctx.org}/{service_id}",
                        )
                    )
            kept.append({"id": match, "registry": image.host, "username": username})
        for old in set(ours) - {k["id"] for k in kept}:
            if old in existing:
                ctx.exchange.delete_dockauth(service_id, old)  # only ours: never what we did not create
                del existing[old]
        services[arch]["dockAuths"] = kept
        if ctx.memory is not None:
            ctx.memory.confirm_dockauths(service, existing)
    message = "registry credentials published for every service"
    return ok("CredentialsPublished", "Published", message, *merge_events(events))


def credentials_valid_step(ctx: PublicationContext) -> StepResult:
    """Pull each published manifest with exactly what the Exchange now holds, as an edge node would."""
    for image in ctx.images:
        assert image.credentials is not None
        endpoint = RegistryEndpoint(
            host=image.host, ca_pem=image.ca_pem or None, username=image.credentials[0], password=image.credentials[1]
        )
        try:
            with ctx.registry_factory(endpoint) as registry:
                for arch in ctx.arches:
                    repository, digest = image.digests[arch].split("/", 1)[1].rsplit("@", 1)
                    registry.head_manifest(repository, digest)
        except RegistryError as error:
            reason = "CredentialsRejected" if error.reason in ("Unauthorized", "Forbidden") else error.reason
            return failed("CredentialsValid", reason, error.message, 60.0)
    return ok("CredentialsValid", "Verified", "every published image can be pulled with the published credentials")


def _published(ctx: PublicationContext, section: str, name: str, result: str) -> dict[str, str]:
    """Status of a published pattern or policy: publishedTime moves only when the Exchange changed."""
    ident = f"{ctx.org}/{name}"
    previous = ctx.status.get(section) or {}
    if result == "unchanged" and previous.get("id") == ident and previous.get("publishedTime"):
        return {"id": ident, "publishedTime": str(previous["publishedTime"])}
    return {"id": ident, "publishedTime": timestamp(ctx.now)}


def _first(ctx: PublicationContext) -> ServiceDefinition:
    return next(iter(ctx.definitions.values()))


def policy_step(ctx: PublicationContext) -> StepResult:
    url, version = _first(ctx).url, _first(ctx).version
    service_policy = ctx.spec.get("servicePolicy")
    if service_policy is not None:
        for arch, service_id in ctx.service_ids.items():
            body = exchange_bodies.service_policy_body(service_policy, url=url, org=ctx.org, version=version, arch=arch)
            ctx.exchange.ensure_service_policy(service_id, body)
    policy = ctx.spec.get("deploymentPolicy")
    if policy is not None:
        result = ctx.exchange.ensure_business_policy(
            str(policy["name"]),
            exchange_bodies.business_policy_body(policy, org=ctx.org, service_url=url, version=version),
        )
        ctx.progress.status["deploymentPolicy"] = _published(ctx, "deploymentPolicy", str(policy["name"]), result)
    return ok("PolicyPublished", "Published", "policies published")


def pattern_step(ctx: PublicationContext) -> StepResult:
    pattern = ctx.spec["pattern"]
    body = exchange_bodies.pattern_body(
        pattern, org=ctx.org, service_url=_first(ctx).url, version=_first(ctx).version, arches=ctx.arches
    )
    name = str(pattern["name"])
    result = ctx.exchange.ensure_pattern(name, body)
    # As hzn exchange pattern publish: the signing key goes with the pattern too; an old one of ours goes.
    assert ctx.key is not None
    keys = ctx.exchange.get_pattern_keys(name)
    if ctx.key.key_id not in keys:
        ctx.exchange.put_pattern_key(name, ctx.key.key_id, ctx.key.public_pem)
    for old in (ctx.status.get("signing") or {}).get("publishedKeyIds") or []:
        if old != ctx.key.key_id and old in keys:
            ctx.exchange.delete_pattern_key(name, str(old))
    ctx.progress.status["pattern"] = _published(ctx, "pattern", name, result)
    return ok("PatternPublished", "Published", f"pattern {name} published with key {ctx.key.key_id}")


def run_publication(ctx: PublicationContext) -> None:
    steps: list[tuple[str, Callable[[PublicationContext], StepResult]]] = [
        ("ImageReady", image_ready_step),
        ("Signed", signed_step),
        ("ServicePublished", service_step),
        ("KeyPublished", key_step),
    ]
    credentials = ctx.spec.get("registryCredentials") or {}
    if credentials.get("publish", True):
        steps.append(("CredentialsPublished", credentials_step))
        if credentials.get("verify", True):
            steps.append(("CredentialsValid", credentials_valid_step))
    if ctx.spec.get("servicePolicy") is not None or ctx.spec.get("deploymentPolicy") is not None:
        steps.append(("PolicyPublished", policy_step))
    if ctx.spec.get("pattern") is not None:
        steps.append(("PatternPublished", pattern_step))
    for condition_type, step in steps:
        try:
            result = step(ctx)
        except ExchangeError as error:
            result = failed(condition_type, error.reason, error.message, 30.0)
        except KubeError as error:
            # An API error may quote what we sent (a Secret with the signing key): mask key material.
            result = failed(condition_type, "KubernetesAPIError", redact(error.message), 10.0)
        if not ctx.progress.add(result):
            return
