"""IBM Cloud Container Registry management API emulator (``/api/v1/...``); see ``ibmcloud.py`` for gaps."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiohttp import web

from horizon_publisher.sandbox.ibmcloud_iam import IamTokenService, InvalidAccessToken

# Reference §7: 4-30 characters from [a-z0-9_-], starting and ending with a letter or digit.
_NAMESPACE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{2,28}[a-z0-9]")


def is_valid_namespace_name(name: str) -> bool:
    return _NAMESPACE_NAME.fullmatch(name) is not None


class ImageRow(NamedTuple):
    """One tag in the registry: ``repository`` is ``NAMESPACE/NAME`` (no host), ``digest`` the manifest's."""

    repository: str
    tag: str
    digest: str


ImageSource = Callable[[], Iterable[ImageRow]]
NamespaceListener = Callable[[str, str], None]  # (namespace, owning account id), after a creation


@dataclass
class _Namespace:
    account_id: str
    created: float
    resource_group: str


def registry_error(status: int, code: str, message: str) -> web.Response:
    """Inferred ICR error shape: ``code`` + ``message`` (+ a request id)."""
    return web.json_response({"code": code, "message": message, "request-id": uuid.uuid4().hex}, status=status)


class RegistryApi:
    """Namespaces (region-wide unique, one owning account each) and the image listing."""

    def __init__(
        self,
        tokens: IamTokenService,
        images: ImageSource,
        registry_host: str,
        clock: Callable[[], float] = time.time,
        preexisting_namespaces: Mapping[str, str] | None = None,
        *,
        on_namespace_created: NamespaceListener | None = None,
    ) -> None:
        self._tokens = tokens
        self._images = images
        self._host = registry_host
        self._clock = clock
        self._lock = threading.Lock()  # tests read the table from another thread
        self._on_namespace_created = on_namespace_created
        self._namespaces: dict[str, _Namespace] = {
            name: _Namespace(account, clock(), "") for name, account in (preexisting_namespaces or {}).items()
        }

    def namespace_owner(self, name: str) -> str | None:
        """The account owning namespace ``name`` (e.g. for the registry's token endpoint), None if none."""
        with self._lock:
            found = self._namespaces.get(name)
        return None if found is None else found.account_id

    def _authorized_account(self, request: web.Request) -> str | web.Response:
        """The account id both the token and the ``Account`` header name, or the error to answer."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return registry_error(401, "CRG0003E", "You are not authorized. Provide a valid IAM bearer token.")
        try:
            claims = self._tokens.verify(token.strip())
        except InvalidAccessToken:
            return registry_error(401, "CRG0003E", "You are not authorized. The IAM token is not valid or expired.")
        token_account: str = claims["account"]["bss"]
        header_account = request.headers.get("Account", "").strip()
        if not header_account:
            return registry_error(400, "CRG0006E", "The 'Account' header is required.")
        if header_account != token_account:
            return registry_error(400, "CRG0007E", "The 'Account' header does not match the IAM token's account.")
        return token_account

    async def put_namespace(self, request: web.Request) -> web.Response:
        account = self._authorized_account(request)
        if isinstance(account, web.Response):
            return account
        name = request.match_info["name"]
        if not is_valid_namespace_name(name):
            return registry_error(
                400,
                "CRN0001E",
                "The namespace name is not valid. Namespaces must be 4-30 characters long, contain only lowercase "
                "letters, numbers, hyphens and underscores, and start and end with a letter or number.",
            )
        with self._lock:
            existing = self._namespaces.get(name)
            if existing is None:
                group = request.headers.get("X-Auth-Resource-Group", "")
                self._namespaces[name] = _Namespace(account, self._clock(), group)
        if existing is None:
            if self._on_namespace_created is not None:
                self._on_namespace_created(name, account)  # e.g. the sandbox persists its table
            return web.json_response({"namespace": name}, status=201)
        if existing.account_id == account:
            return web.json_response({"namespace": name}, status=200)
        return registry_error(409, "CRN0002E", "The requested namespace is already in use. Choose another name.")

    def _owned(self, account: str) -> list[tuple[str, _Namespace]]:
        with self._lock:
            return sorted((n, ns) for n, ns in self._namespaces.items() if ns.account_id == account)

    async def list_namespaces(self, request: web.Request) -> web.Response:
        account = self._authorized_account(request)
        if isinstance(account, web.Response):
            return account
        return web.json_response([name for name, _ in self._owned(account)])

    async def list_namespace_details(self, request: web.Request) -> web.Response:
        account = self._authorized_account(request)
        if isinstance(account, web.Response):
            return account
        details = [
            {
                "name": name,
                "account": account,
                "resource_group": ns.resource_group,
                "created_date": _iso(ns.created),
                "updated_date": _iso(ns.created),
            }
            for name, ns in self._owned(account)
        ]
        return web.json_response(details)

    async def list_images(self, request: web.Request) -> web.Response:
        account = self._authorized_account(request)
        if isinstance(account, web.Response):
            return account
        owned = {name for name, _ in self._owned(account)}
        wanted = set(request.query.getall("namespace", [])) or owned
        repositories = set(request.query.getall("repository", []))
        rows = await asyncio.to_thread(lambda: list(self._images()))  # the source may do blocking HTTP
        selected = [
            row
            for row in rows
            if row.repository.partition("/")[0] in (wanted & owned)
            and (not repositories or row.repository in repositories)
        ]
        return web.json_response(self._group_by_digest(selected))

    def _group_by_digest(self, rows: Iterable[ImageRow]) -> list[dict[str, Any]]:
        """One entry per (repository, manifest digest), its tags collected, as ``ibmcloud cr images`` shows."""
        tags_by_image: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            tags_by_image.setdefault((row.repository, row.digest), []).append(row.tag)
        images = []
        for (repository, digest), tags in sorted(tags_by_image.items()):
            full = f"{self._host}/{repository}"
            images.append(
                {
                    "Id": digest,
                    "ParentId": "",
                    "RepoTags": [f"{full}:{tag}" for tag in sorted(tags)],
                    "RepoDigests": [f"{full}@{digest}"],
                    "DigestTags": {digest: sorted(tags)},
                    "Created": 0,
                    "Size": 0,
                    "VirtualSize": 0,
                    "ManifestType": "",
                    "Labels": {},
                    "Vulnerable": "",
                    "VulnerabilityCount": 0,
                    "ConfigurationIssueCount": 0,
                    "IssueCount": 0,
                    "ExemptIssueCount": 0,
                }
            )
        return images


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
