"""``spec.image.source``: copy an image from another registry into the target repository, then resolve as usual.

Per architecture (PerArchRepository) the source's platform manifest goes to ``NAME_ARCH:TAG``; with
MultiArchIndex the whole index goes to ``NAME:TAG``. Before copying, the source digest is compared with
what the target tag holds: equal means nothing to do (two HEADs per arch per resync), so a copy runs once
per source change and a retry after a failure skips every blob already verified at the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint, RegistryError
from horizon_publisher.clients.registry_copy import CopyResult, copy_image, source_digest
from horizon_publisher.conditions import timestamp
from horizon_publisher.reconcile.generic_image import read_ca, read_docker_credentials
from horizon_publisher.reconcile.openshift_image import Context, RegistryFactory, backoff_failure, target_endpoint
from horizon_publisher.reconcile.outcome import EventNote
from horizon_publisher.reconcile.steps import StepResult, failed, ok
from horizon_publisher.source_reference import SourceReference, credential_keys, parse_source_reference

STEP = "ImageCopied"
MIB = 1024 * 1024


@dataclass(frozen=True)
class _Plan:
    """One copy: from a source reference to a target repository and tag; ``platform`` picks from an index."""

    source: SourceReference
    repository: str
    tag: str
    platform: str | None
    label: str  # the arch, or "index"


def plans(ctx: Context) -> list[_Plan] | StepResult:
    image: Mapping[str, Any] = ctx.spec.get("image") or {}
    text = str((image.get("source") or {}).get("reference") or "")
    name, tag = str(image.get("name")), str(image.get("tag"))
    try:
        if image.get("layout") == "MultiArchIndex":
            source = parse_source_reference(text)
            return [_Plan(source, ctx.repository(name), tag, None, "index")]
        arches = [str(a) for a in image.get("arches") or ["amd64"]]
        return [
            _Plan(parse_source_reference(text, arch), ctx.repository(f"{name}_{arch}"), tag, arch, arch)
            for arch in arches
        ]
    except ValueError as error:
        return failed(STEP, "InvalidSource", str(error))


def source_endpoint(ctx: Context, source: SourceReference) -> RegistryEndpoint | StepResult:
    settings: Mapping[str, Any] = (ctx.spec.get("image") or {}).get("source") or {}
    tls = settings.get("tls") or {}
    ca: str | None = None
    if tls.get("caRef"):
        found = read_ca(ctx, tls["caRef"], STEP)
        if isinstance(found, StepResult):
            return found
        ca = found
    username = password = None
    ref = settings.get("credentialsSecretRef")
    if ref:
        credentials: tuple[str, str] | StepResult = failed(STEP, "InvalidDockerConfig", "")
        for key in credential_keys(source):
            credentials = read_docker_credentials(ctx, str(ref.get("name")), key, STEP)
            if not isinstance(credentials, StepResult) or credentials.condition.reason != "InvalidDockerConfig":
                break
        if isinstance(credentials, StepResult):
            return credentials
        username, password = credentials
    return RegistryEndpoint(
        host=source.api_host,
        ca_pem=ca,
        insecure_skip_verify=bool(tls.get("insecureSkipTLSVerify")),
        username=username,
        password=password,
    )


def copy_step(ctx: Context, registry_factory: RegistryFactory) -> StepResult:
    planned = plans(ctx)
    if isinstance(planned, StepResult):
        return planned
    endpoints: dict[str, RegistryEndpoint] = {}
    for plan in planned:
        endpoint = source_endpoint(ctx, plan.source)
        if isinstance(endpoint, StepResult):
            return endpoint
        endpoints[plan.source.api_host] = endpoint
    copied: list[tuple[_Plan, CopyResult]] = []
    digests: dict[str, str] = {}
    try:
        with registry_factory(target_endpoint(ctx)) as target:
            for plan in planned:
                with registry_factory(endpoints[plan.source.api_host]) as source:
                    digest, result = _copy_if_changed(source, target, plan)
                digests[plan.label] = digest
                if result is not None:
                    copied.append((plan, result))
    except RegistryError as error:
        return backoff_failure(ctx, STEP, error.reason, error.message)
    except ValueError as error:  # a name or mapping the registry client refuses before any request
        return failed(STEP, "InvalidSource", str(error))
    return _copied(ctx, planned, digests, copied)


def _copy_if_changed(source: RegistryClient, target: RegistryClient, plan: _Plan) -> tuple[str, CopyResult | None]:
    wanted = source_digest(source, plan.source.repository, plan.source.reference, platform=plan.platform)
    try:
        if target.head_manifest(plan.repository, plan.tag).digest == wanted:
            return wanted, None
    except RegistryError as error:
        if error.reason != "ImageNotFound":
            raise
    result = copy_image(
        source, plan.source.repository, wanted, target, plan.repository, plan.tag, platform=plan.platform
    )
    return result.digest, result


def _copied(
    ctx: Context, planned: list[_Plan], digests: dict[str, str], copied: list[tuple[_Plan, CopyResult]]
) -> StepResult:
    previous = ctx.status.get("copy") or {}
    record: dict[str, Any] = {"source": str(planned[0].source), "sourceDigests": digests}
    if copied:
        record.update(lastCopiedTime=timestamp(ctx.now), bytesCopied=sum(r.bytes_copied for _, r in copied))
    else:
        record.update({k: previous[k] for k in ("lastCopiedTime", "bytesCopied") if k in previous})
    ctx.progress.status["copy"] = record
    if not copied:
        return ok(STEP, "UpToDate", f"the target holds the source's digests ({len(planned)} copied before)")
    total = sum(r.bytes_copied for _, r in copied)
    mounted = sum(r.blobs_mounted for _, r in copied)
    skipped = sum(r.blobs_present for _, r in copied)
    blobs = sum(r.blobs_copied for _, r in copied)
    what = ", ".join(f"{p.source}@{r.digest[:19]} -> {p.repository}:{p.tag}" for p, r in copied)
    detail = f"{blobs} blobs ({total / MIB:.1f} MiB) copied, {mounted} mounted, {skipped} already there"
    event = EventNote("Normal", "ImageCopied", f"copied {what}: {detail}")
    return ok(STEP, "Copied", f"{what}: {detail}", event)
