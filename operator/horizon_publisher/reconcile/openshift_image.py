"""EdgeServiceImage on OpenShift's internal registry: the manual procedure's steps 1-10, idempotent.

Each step observes, creates or repairs what it owns, and ends in its own condition. A step that must
wait (route admission, the token controller, an image not pushed yet) stops the pass with a retry
delay; nothing later runs, so nothing is made half-way on a cluster that lacks a prerequisite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from horizon_publisher.clients.kube import (
    CONFIG_MAPS,
    NAMESPACES,
    PROJECT_REQUESTS,
    REGISTRY_CONFIGS,
    ROLE_BINDINGS,
    ROUTES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICE_IMAGES,
    Kube,
    KubeError,
    Resource,
)
from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint, RegistryError
from horizon_publisher.conditions import timestamp
from horizon_publisher.desired import kube_objects as desired
from horizon_publisher.reconcile.openshift_token import token_step
from horizon_publisher.reconcile.steps import Progress, StepResult, failed, ok, waiting

REGISTRY_NAMESPACE = "openshift-image-registry"
DEFAULT_ROUTE = "default-route"
INGRESS_CA = ("openshift-config-managed", "default-ingress-cert", "ca-bundle.crt")
ROUTE_POLL = 2.0
HANDLED_ROTATION = "lastHandledRotationRequest"  # in status.credentials
PROJECT_DESCRIPTION = "openshift.io/description"  # OpenShift copies a ProjectRequest's description here

RegistryFactory = Callable[[RegistryEndpoint], RegistryClient]


@dataclass
class Context:
    """One reconcile pass: the resource, its spec, and what the steps learnt so far."""

    kube: Kube
    owner: desired.Owner
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    now: datetime
    progress: Progress
    host: str = ""
    token: str = ""
    ca_bundle: str = ""
    account_recreated: bool = False
    service_account: Mapping[str, Any] | None = None  # as account_step found or made it
    rotation_request: str = ""  # the resource's rotate-credentials-requested-at annotation ("" when absent)
    rotated_for: str = ""  # the rotation request this pass's new credentials answer (recorded once written)
    # Other providers: where repositories live under the host ("" for none), who pulls, TLS opt-out.
    prefix: str | None = None
    username: str | None = None
    insecure_skip_verify: bool = False
    registry_url: str | None = None  # base URL override of the registry's /v2/ API (host stays in references)

    def repository(self, name: str) -> str:
        prefix = self.project if self.prefix is None else self.prefix
        return f"{prefix}/{name}" if prefix else name

    @property
    def pull_username(self) -> str:
        return self.account if self.username is None else self.username

    @property
    def openshift(self) -> Mapping[str, Any]:
        return self.spec["registry"]["openshift"]  # type: ignore[no-any-return]

    @property
    def project(self) -> str:
        return str(self.openshift["project"])

    @property
    def account(self) -> str:
        return str(self.openshift.get("serviceAccountName") or "edge-publisher")

    @property
    def pending_rotation(self) -> str:
        """The rotation request not answered yet: the annotation's value when it is not the one handled."""
        handled = (self.status.get("credentials") or {}).get(HANDLED_ROTATION)
        return self.rotation_request if self.rotation_request != handled else ""


def run_openshift(ctx: Context, registry_factory: RegistryFactory, copy: Callable[[Context], StepResult]) -> None:
    steps: list[tuple[str, Callable[[Context], StepResult]]] = [
        ("RegistryRouteReady", route_step),
        ("ProjectReady", project_step),
        ("ServiceAccountReady", account_step),
        ("RoleBindingReady", role_binding_step),
        ("TokenReady", token_step),
        ("CATrusted", ca_step),
        ("CredentialsReady", credentials_step),
    ]
    if (ctx.spec.get("image") or {}).get("source"):
        steps.append(("ImageCopied", copy))
    steps.append(("ImageResolved", lambda c: image_step(c, registry_factory)))
    ctx.progress.status["provider"] = "OpenShift"
    run_steps(ctx, steps)


def run_steps(ctx: Context, steps: list[tuple[str, Callable[[Context], StepResult]]]) -> None:
    """Run steps in order until one cannot proceed; an API error ends the step that met it."""
    for condition_type, step in steps:
        try:
            result = step(ctx)
        except KubeError as error:
            # 403: our RBAC is missing a rule, retrying will not help; anything else may pass.
            reason = "Forbidden" if error.status == 403 else "KubernetesAPIError"
            # An API error may quote what we sent; a token must never reach a condition.
            message = error.message.replace(ctx.token, "***") if ctx.token else error.message
            result = failed(condition_type, reason, message, retry_after=None if error.status == 403 else 10.0)
        if not ctx.progress.add(result):
            return


def ensure_data(ctx: Context, resource: Resource, want: dict[str, Any]) -> None:
    """Create ``want`` next to the resource, or bring an existing object's ``data`` back to it."""
    name = want["metadata"]["name"]
    existing = ctx.kube.get(resource, ctx.owner.namespace, name)
    if existing is None:
        ctx.kube.create(resource, ctx.owner.namespace, want)
    elif existing.get("data") != want["data"]:
        ctx.kube.merge_patch(resource, ctx.owner.namespace, name, {"data": want["data"]})


def retire(ctx: Context, resource: Resource, namespace: str, field: tuple[str, str], current: str) -> None:
    """A renamed object (service account, output Secret...) replaces the old one: delete the old, if ours."""
    section, key = field
    previous = (ctx.status.get(section) or {}).get(key)
    if previous and previous != current and ctx.owner.owns(ctx.kube.get(resource, namespace, previous)):
        ctx.kube.delete(resource, namespace, previous)


def registry_status(ctx: Context) -> dict[str, Any]:
    return ctx.progress.status.setdefault("registry", {})  # type: ignore[no-any-return]


def credentials_status(ctx: Context) -> dict[str, Any]:
    return ctx.progress.status.setdefault("credentials", {})  # type: ignore[no-any-return]


def route_step(ctx: Context) -> StepResult:
    missing = [r.group for r in (ROUTES, REGISTRY_CONFIGS) if not ctx.kube.serves(r)]
    if missing:
        return failed(
            "RegistryRouteReady",
            "OpenShiftAPIMissing",
            f"this cluster does not serve {' and '.join(missing)}: the openshift provider needs OpenShift's "
            "integrated registry; use the ibmCloud or generic provider on plain Kubernetes",
        )
    route = ctx.kube.get(ROUTES, REGISTRY_NAMESPACE, DEFAULT_ROUTE)
    if route is None:
        return _ask_for_route(ctx)
    host = str((route.get("spec") or {}).get("host") or "")
    if not host or not _admitted(route):
        return waiting(
            "RegistryRouteReady", "WaitingForRoute", f"route {DEFAULT_ROUTE} is not admitted yet", ROUTE_POLL
        )
    ctx.host = host
    registry_status(ctx)["host"] = host
    return ok("RegistryRouteReady", "RouteAdmitted", f"the registry is exposed at {host}")


def _ask_for_route(ctx: Context) -> StepResult:
    config = ctx.kube.get(REGISTRY_CONFIGS, None, "cluster") or {}
    state = (config.get("spec") or {}).get("managementState", "Managed")
    if state != "Managed":
        return failed(
            "RegistryRouteReady",
            "RegistryNotManaged",
            f"the image registry operator's managementState is {state}: it exposes no route unless Managed",
        )
    if not ctx.openshift.get("ensureDefaultRoute", True):
        return failed(
            "RegistryRouteReady",
            "RouteMissing",
            "route openshift-image-registry/default-route does not exist and ensureDefaultRoute is false",
        )
    if not (config.get("spec") or {}).get("defaultRoute"):
        ctx.kube.merge_patch(REGISTRY_CONFIGS, None, "cluster", {"spec": {"defaultRoute": True}})
    return waiting(
        "RegistryRouteReady", "WaitingForRoute", "asked the registry operator for its default route", ROUTE_POLL
    )


def _admitted(route: Mapping[str, Any]) -> bool:
    for ingress in (route.get("status") or {}).get("ingress") or []:
        for condition in ingress.get("conditions") or []:
            if condition.get("type") == "Admitted" and condition.get("status") == "True":
                return True
    return False


def _project_ready(project: str, *, created: bool) -> StepResult:
    """The same condition on every pass (no status write after the first): it says what is, not what a pass did."""
    if created:
        return ok("ProjectReady", "Created", f"project {project} created for this resource")
    return ok("ProjectReady", "Exists", f"project {project} is ours")


def project_step(ctx: Context) -> StepResult:
    project = ctx.project
    existing = ctx.kube.get(NAMESPACES, None, project)
    registry = registry_status(ctx)
    registry["namespace"] = project
    if existing is None:
        if ctx.kube.serves(PROJECT_REQUESTS):
            ctx.kube.create(PROJECT_REQUESTS, None, desired.project_request(project, ctx.owner))
            registry["namespaceCreated"] = True  # in the status even if the labelling fails: the next pass ends it
            _label(ctx, project, {desired.CREATED_LABEL: "true"})
        else:
            ctx.kube.create(NAMESPACES, None, desired.namespace(project, ctx.owner))
        registry["namespaceCreated"] = True
        return _project_ready(project, created=True)
    if (existing.get("metadata") or {}).get("deletionTimestamp"):
        return waiting("ProjectReady", "NamespaceTerminating", f"namespace {project} is being deleted", 5.0)
    registry["namespaceCreated"] = desired.created_by_us(existing)
    ours = ctx.owner.owns(existing)
    if not ours and _unlabelled_request_of_ours(ctx, existing):
        registry["namespaceCreated"] = ours = True  # before the patch: should it fail again, the next pass retries
        _label(ctx, project, {desired.CREATED_LABEL: "true"})
    if ours:
        return _project_ready(project, created=bool(registry["namespaceCreated"]))
    holder = _other_holder(ctx, existing)
    if holder is not None:  # adoption takes unowned projects only, never another image's
        return failed(
            "ProjectReady",
            "NamespaceNotOwned",
            f"namespace {project} belongs to EdgeServiceImage {holder}; choose another project",
        )
    consent = ((existing.get("metadata") or {}).get("labels") or {}).get(desired.ADOPTABLE_BY_LABEL)
    if ctx.openshift.get("adoptExistingNamespace") and consent == ctx.owner.namespace:
        _label(ctx, project)
        return ok("ProjectReady", "Adopted", f"existing namespace {project} adopted (adoptExistingNamespace)")
    # Adopting gives a service account edit rights there: the namespace's side must consent, or any tenant
    # could reach into any namespace through the operator.
    return failed(
        "ProjectReady",
        "NamespaceNotOwned",
        f"namespace {project} exists and was not created by horizon-publisher for this EdgeServiceImage; to use "
        f"it, set spec.registry.openshift.adoptExistingNamespace: true here and have someone with rights on "
        f"{project} label it {desired.ADOPTABLE_BY_LABEL}={ctx.owner.namespace}",
    )


def _unlabelled_request_of_ours(ctx: Context, namespace: Mapping[str, Any]) -> bool:
    """Our ProjectRequest made this project but labelling it failed (a 409 or 5xx on the patch, or a crash
    between the two requests, which leaves no status behind).

    The namespace carries nobody's labels and our request's description, which names this resource's uid:
    only this resource's ProjectRequest, or someone with rights on the namespace, can have written it, so
    taking it over gives nobody rights they did not have.
    """
    metadata = namespace.get("metadata") or {}
    labels, annotations = metadata.get("labels") or {}, metadata.get("annotations") or {}
    return (
        not labels.get(desired.MANAGED_BY)
        and bool(ctx.owner.uid)
        and annotations.get(PROJECT_DESCRIPTION) == desired.project_request(ctx.project, ctx.owner)["description"]
    )


def _other_holder(ctx: Context, namespace: Mapping[str, Any]) -> str | None:
    """NAMESPACE/NAME of another EdgeServiceImage that still exists and labels ``namespace`` as its own."""
    labels = (namespace.get("metadata") or {}).get("labels") or {}
    if labels.get(desired.MANAGED_BY) != desired.OPERATOR or not labels.get(desired.OWNER_NAME):
        return None
    owner_namespace, owner_name = str(labels.get(desired.OWNER_NAMESPACE)), str(labels[desired.OWNER_NAME])
    if ctx.kube.get(SERVICE_IMAGES, owner_namespace, owner_name) is None:
        return None  # its image is gone (the project is always kept): free to adopt
    return f"{owner_namespace}/{owner_name}"


def _label(ctx: Context, project: str, extra: Mapping[str, str] | None = None) -> None:
    labels = {**ctx.owner.labels(), **(extra or {})}
    ctx.kube.merge_patch(NAMESPACES, None, project, {"metadata": {"labels": labels}})


def account_step(ctx: Context) -> StepResult:
    existing = ctx.kube.get(SERVICE_ACCOUNTS, ctx.project, ctx.account)
    registry_status(ctx).update(serviceAccount=ctx.account, username=ctx.account)
    retire(ctx, SERVICE_ACCOUNTS, ctx.project, ("registry", "serviceAccount"), ctx.account)
    ctx.service_account = existing
    if existing is None:
        # Made while a rotation request is pending: every token of it is newer than the request.
        want = desired.service_account(ctx.project, ctx.account, ctx.owner, ctx.pending_rotation)
        ctx.service_account = ctx.kube.create(SERVICE_ACCOUNTS, ctx.project, want)
        ctx.account_recreated = True
        return ok("ServiceAccountReady", "Created", f"service account {ctx.project}/{ctx.account} exists")
    return ok("ServiceAccountReady", "Created", f"service account {ctx.project}/{ctx.account} exists")


def role_binding_step(ctx: Context) -> StepResult:
    role = str(ctx.openshift.get("role") or "edit")
    want = desired.role_binding(ctx.project, ctx.account, role, ctx.owner)
    name = want["metadata"]["name"]
    existing = ctx.kube.get(ROLE_BINDINGS, ctx.project, name)
    if existing is not None and existing.get("roleRef") != want["roleRef"]:
        ctx.kube.delete(ROLE_BINDINGS, ctx.project, name)  # roleRef is immutable
        existing = None
    if existing is None:
        ctx.kube.create(ROLE_BINDINGS, ctx.project, want)
    elif existing.get("subjects") != want["subjects"]:
        ctx.kube.merge_patch(ROLE_BINDINGS, ctx.project, name, {"subjects": want["subjects"]})
    registry_status(ctx)["roleBinding"] = name
    retire(ctx, ROLE_BINDINGS, ctx.project, ("registry", "roleBinding"), name)
    return ok("RoleBindingReady", "Bound", f"{ctx.account} holds ClusterRole {role} in {ctx.project}")


def ca_step(ctx: Context) -> StepResult:
    namespace, name, key = INGRESS_CA
    source = ctx.kube.get(CONFIG_MAPS, namespace, name)
    bundle = str(((source or {}).get("data") or {}).get(key) or "")
    origin = f"{namespace}/{name}"
    if not bundle:  # fallback: the cluster's root bundle, which includes the ingress CA on OpenShift
        root = ctx.kube.get(CONFIG_MAPS, ctx.owner.namespace, "kube-root-ca.crt")
        bundle = str(((root or {}).get("data") or {}).get("ca.crt") or "")
        origin = f"{ctx.owner.namespace}/kube-root-ca.crt"
    if not bundle:
        return failed(
            "CATrusted", "CANotFound", f"neither {namespace}/{name} nor kube-root-ca.crt holds a CA bundle", 30.0
        )
    if "-----BEGIN CERTIFICATE-----" not in bundle:
        return failed("CATrusted", "CAInvalid", f"{origin} holds no PEM certificate", 30.0)
    return write_ca(ctx, bundle, origin)


def write_ca(ctx: Context, bundle: str, origin: str) -> StepResult:
    """The CA ConfigMap every provider writes next to the resource (key ``ca.crt``)."""
    ctx.ca_bundle = bundle
    name = desired.ca_config_map_name(ctx.owner.name, ctx.spec)
    ensure_data(ctx, CONFIG_MAPS, desired.ca_config_map(name, ctx.owner, bundle))
    credentials_status(ctx)["caConfigMapName"] = name
    retire(ctx, CONFIG_MAPS, ctx.owner.namespace, ("credentials", "caConfigMapName"), name)
    return ok("CATrusted", "CAFound", f"CA bundle from {origin} in configmap {name}")


def credentials_step(ctx: Context) -> StepResult:
    return write_credentials(ctx, ctx.account, ctx.token)


def write_credentials(ctx: Context, username: str, token: str) -> StepResult:
    """The dockerconfigjson Secret every provider writes next to the resource, for pipelines and publications."""
    name = desired.credentials_secret_name(ctx.owner.name, ctx.spec)
    want = desired.credentials_secret(name, ctx.owner, ctx.host, username, token)
    existing = ctx.kube.get(SECRETS, ctx.owner.namespace, name)
    if existing is not None and not ctx.owner.owns(existing):
        return failed(
            "CredentialsReady",
            "SecretNotOwned",
            f"secret {name} exists and is not ours: choose spec.output.credentialsSecretName",
        )
    if existing is not None and existing.get("type") != want["type"]:
        ctx.kube.delete(SECRETS, ctx.owner.namespace, name)  # a Secret's type is immutable
    ensure_data(ctx, SECRETS, want)
    credentials_status(ctx)["secretName"] = name
    retire(ctx, SECRETS, ctx.owner.namespace, ("credentials", "secretName"), name)
    return ok("CredentialsReady", "SecretWritten", f"push/pull credentials for {ctx.host} in secret {name}")


def image_step(ctx: Context, registry_factory: RegistryFactory) -> StepResult:
    image = ctx.spec.get("image") or {}
    name, tag = str(image.get("name")), str(image.get("tag"))
    arches = [str(a) for a in image.get("arches") or ["amd64"]]
    pinned = _pinned_images(ctx, name, tag, arches)
    if pinned is not None:
        return ok("ImageResolved", "Resolved", f"{len(pinned)} of {len(arches)} architectures resolved (followTag off)")
    resolved: list[dict[str, Any]] = []
    try:
        with registry_factory(target_endpoint(ctx)) as registry:
            if image.get("layout") == "MultiArchIndex":
                repository = ctx.repository(name)
                manifest = registry.head_manifest(repository, tag)
                ctx.progress.status["indexDigest"] = manifest.digest
                for arch in arches:
                    digest = manifest.digest_for_arch(arch, f"{ctx.host}/{repository}:{tag}")
                    resolved.append(_image_entry(ctx.host, repository, tag, arch, digest, manifest.media_type))
            else:
                for arch in arches:
                    repository = ctx.repository(f"{name}_{arch}")
                    manifest = registry.head_manifest(repository, tag)
                    resolved.append(_image_entry(ctx.host, repository, tag, arch, manifest.digest, manifest.media_type))
    except RegistryError as error:
        return backoff_failure(ctx, "ImageResolved", error.reason, error.message)
    except ValueError as error:  # a name or mapping the registry client refuses before any request
        return failed("ImageResolved", "InvalidReference", str(error))
    previous = [dict(i) for i in ctx.status.get("images") or []]
    ctx.progress.status.update(images=resolved, resolvedCount=len(resolved), retry=None)
    ctx.progress.status["lastResolvedTime"] = (
        ctx.status.get("lastResolvedTime") if previous == resolved else timestamp(ctx.now)
    )
    return ok("ImageResolved", "Resolved", f"{len(resolved)} of {len(arches)} architectures resolved")


def _pinned_images(ctx: Context, name: str, tag: str, arches: list[str]) -> list[dict[str, Any]] | None:
    """With followTag off, digests resolved once for this host, tag and arch set stay as they are."""
    if (ctx.spec.get("image") or {}).get("followTag", True):
        return None
    previous = [dict(i) for i in ctx.status.get("images") or []]
    layout_index = (ctx.spec.get("image") or {}).get("layout") == "MultiArchIndex"
    expected = {
        arch: f"{ctx.host}/{ctx.repository(name if layout_index else f'{name}_{arch}')}:{tag}" for arch in arches
    }
    if {i.get("arch"): i.get("reference") for i in previous} != expected:
        return None
    for key in ("images", "resolvedCount", "lastResolvedTime", "indexDigest"):
        if key in ctx.status:
            ctx.progress.status[key] = ctx.status[key]
    return previous


def _image_entry(host: str, repository: str, tag: str, arch: str, digest: str, media_type: str) -> dict[str, Any]:  # noqa: PLR0917
    return {
        "arch": arch,
        "reference": f"{host}/{repository}:{tag}",
        "digest": digest,
        "pinnedReference": f"{host}/{repository}@{digest}",
        "mediaType": media_type,
    }


def target_endpoint(ctx: Context) -> RegistryEndpoint:
    """The registry the image lives in, with the credentials the provider's steps found."""
    return RegistryEndpoint(
        host=ctx.host,
        ca_pem=ctx.ca_bundle or None,
        insecure_skip_verify=ctx.insecure_skip_verify,
        username=ctx.pull_username or None,
        password=ctx.token or None,
        url=ctx.registry_url,
    )


def backoff_failure(ctx: Context, step: str, reason: str, message: str) -> StepResult:
    """Retried with backoff (5 s doubling to 5 min), the attempts kept in status so restarts keep it."""
    retry = ctx.status.get("retry") or {}
    attempts = int(retry.get("attempts") or 0) + 1 if retry.get("step") == step else 1
    delay = min(5.0 * 2 ** (attempts - 1), 300.0)
    ctx.progress.status["retry"] = {
        "step": step,
        "attempts": attempts,
        "lastFailureTime": timestamp(ctx.now),
        "nextAttemptTime": timestamp(ctx.now + timedelta(seconds=delay)),
    }
    return failed(step, reason, message, retry_after=delay)
