"""Blob transfers of the distribution API: existence checks, ranged reads, chunked upload sessions.

An upload is ``POST /v2/<name>/blobs/uploads/`` (``202`` + ``Location``), then ``PATCH`` chunks with
``Content-Range: <first>-<last>`` (each answer carries the next ``Location``: registry 2.8 signs the offset
into its ``_state`` parameter), then ``PUT <location>&digest=<digest>``. ``GET <location>`` answers ``204``
with ``Range: 0-<last>`` (``0--1`` when empty): the offset to continue from after an unclear failure.
``POST ...?mount=<digest>&from=<repo>`` asks for a cross-repository mount: ``201`` = done, ``202`` = the
registry opened a normal upload session instead.

Credentials go only to locations on the registry's own host; an upload ``Location`` elsewhere is refused.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urljoin

import requests

from horizon_publisher.clients.registry_model import Descriptor, Reason, RegistryError
from horizon_publisher.clients.registry_transport import RegistryTransport, error_code

log = logging.getLogger("horizon_publisher.clients.registry")

PATCH_RECOVERIES = 2  # times one chunk may be re-sent after a broken PATCH


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def blob_ref(client: RegistryTransport, repository: str, digest: str) -> str:
    return f"{client.endpoint.host}/{repository}@{digest}"


def blob_exists(client: RegistryTransport, repository: str, digest: str, *, push: bool = False) -> bool:
    """HEAD the blob: True when the registry has it in ``repository``."""
    ref = blob_ref(client, repository, digest)
    scope, action = (push_scope(repository), "push") if push else (pull_scope(repository), "pull")
    url = client.url(f"/v2/{repository}/blobs/{digest}")
    with client.request("HEAD", url, scope=scope, ref=ref, action=action) as response:
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        raise _status_error(client, response, f"checking blob {ref}", action)


def open_blob(client: RegistryTransport, repository: str, blob: Descriptor, offset: int) -> requests.Response:
    """GET the blob from ``offset`` on (``Range``), streamed; the caller reads and closes it.

    The answer may be ``200`` (the registry ignored ``Range``: the caller skips ``offset`` bytes) or
    ``206`` starting exactly at ``offset``.
    """
    ref = blob_ref(client, repository, blob.digest)
    headers = {"Accept": "*/*", **({"Range": f"bytes={offset}-"} if offset else {})}
    url = client.url(f"/v2/{repository}/blobs/{blob.digest}")
    response = client.request("GET", url, scope=pull_scope(repository), ref=ref, headers=headers, stream=True)
    status = response.status_code
    if status == 200 or (status == 206 and _range_start(response.headers.get("Content-Range", "")) == offset):
        return response
    with response:
        if status == 404:
            raise RegistryError("SourceNotFound", f"blob {ref} is missing at the source", status)
        if status == 206:
            raise RegistryError(
                "RegistryProtocolError", f"registry {client.endpoint.host} sent the wrong range of {ref}"
            )
        raise _status_error(client, response, f"reading blob {ref}", "pull")


def _range_start(content_range: str) -> int | None:
    """``bytes 100-199/200`` -> 100."""
    unit, _, rest = content_range.partition(" ")
    first = rest.partition("-")[0]
    return int(first) if unit == "bytes" and first.isdigit() else None


class UploadBroken(Exception):
    """The connection to the target broke mid-upload and the session cannot continue: start a new one."""

    def __init__(self, cause: RegistryError) -> None:
        super().__init__(cause.message)
        self.cause = cause


class BlobUpload:
    """One upload session at a registry; :meth:`append` chunks in order, then :meth:`finish` or :meth:`cancel`."""

    def __init__(self, client: RegistryTransport, repository: str, location: str, ref: str) -> None:
        self._client = client
        self._repository = repository
        self._location = location
        self._ref = ref
        self.offset = 0  # bytes the registry holds
        self.mount_refused = False  # a mount was asked for and not allowed: do not ask again

    @classmethod
    def start(
        cls, client: RegistryTransport, repository: str, digest: str, *, mount_from: str | None = None
    ) -> BlobUpload | None:
        """Open a session for ``digest``; with ``mount_from``, try a mount first: None = mounted."""
        ref = blob_ref(client, repository, digest)
        path = f"/v2/{repository}/blobs/uploads/"
        if mount_from is not None:
            scope = f"{push_scope(repository)} {pull_scope(mount_from)}"
            url = client.url(f"{path}?mount={quote(digest)}&from={quote(mount_from, safe='/')}")
            try:
                response = client.request("POST", url, scope=scope, ref=ref, action="push")
            except RegistryError as error:
                if error.reason not in ("Unauthorized", "Forbidden"):
                    raise
                # No pull on the source repository with the target's credentials: upload instead.
                log.info("no mount of %s from %s (%s); uploading", digest[:19], mount_from, error.reason)
            else:
                with response:
                    if response.status_code == 201:
                        return None
                    if response.status_code == 202:
                        return cls(client, repository, cls._location_of(client, response, ref), ref)
                    if response.status_code not in (401, 403):
                        raise _status_error(client, response, f"starting the upload of {ref}", "push")
        url = client.url(path)
        with client.request("POST", url, scope=push_scope(repository), ref=ref, action="push") as response:
            if response.status_code != 202:
                raise _status_error(client, response, f"starting the upload of {ref}", "push")
            upload = cls(client, repository, cls._location_of(client, response, ref), ref)
        upload.mount_refused = mount_from is not None
        return upload

    @staticmethod
    def _location_of(client: RegistryTransport, response: requests.Response, ref: str) -> str:
        location = response.headers.get("Location", "")
        absolute = urljoin(response.url, location) if location else ""
        if not absolute or not client.on_this_registry(absolute):
            raise RegistryError(
                "CopyFailed", f"registry {client.endpoint.host} sent no usable upload location for {ref}"
            )
        return absolute

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        scope = push_scope(self._repository)
        return self._client.request(method, url, scope=scope, ref=self._ref, action="push", **kwargs)

    def append(self, data: memoryview) -> None:
        """PATCH ``data`` at :attr:`offset`. After a broken connection, ask the registry how much it kept and
        send the rest; :class:`UploadBroken` when the session cannot go on (registry 2.8 refuses to resume
        a session whose last PATCH broke off: "upload resumed at wrong offset")."""
        done = 0
        for attempt in range(PATCH_RECOVERIES + 1):
            try:
                self._patch(data[done:])
                return
            except RegistryError as error:
                if error.reason != "RegistryUnreachable":
                    raise
                if attempt == PATCH_RECOVERIES:
                    raise UploadBroken(error) from error
                start = self.offset
                try:
                    self.status()
                except RegistryError as unusable:
                    raise UploadBroken(error) from unusable
                kept = self.offset - start
                if not 0 <= kept <= len(data) - done:
                    raise UploadBroken(error) from None
                done += kept
                log.info("upload of %s broke; continuing at byte %d", self._ref, self.offset)
                if done == len(data):
                    return

    def _patch(self, data: memoryview) -> None:
        first, last = self.offset, self.offset + len(data) - 1
        headers = {"Content-Type": "application/octet-stream", "Content-Range": f"{first}-{last}"}
        with self._send("PATCH", self._location, headers=headers, data=data) as response:
            if response.status_code != 202:
                if response.status_code == 416:  # the registry holds another offset than ours
                    self.status()
                raise _status_error(self._client, response, f"uploading {self._ref}", "push")
            self._location = self._location_of(self._client, response, self._ref)
            self.offset = last + 1
            reported = response.headers.get("Range", "")
            if reported and _range_end(reported) != last:
                raise RegistryError("CopyFailed", f"registry {self._client.endpoint.host} lost bytes of {self._ref}")

    def status(self) -> int:
        """Ask the registry how many bytes it holds (and for a fresh location); updates :attr:`offset`."""
        with self._send("GET", self._location) as response:
            if response.status_code != 204:
                raise _status_error(self._client, response, f"checking the upload of {self._ref}", "push")
            self._location = self._location_of(self._client, response, self._ref)
            end = _range_end(response.headers.get("Range", ""))
            if end is None:
                raise RegistryError("CopyFailed", f"registry {self._client.endpoint.host} hid the upload's progress")
            self.offset = end + 1
        return self.offset

    def finish(self, digest: str) -> None:
        """Commit the blob under ``digest`` (the registry verifies it too)."""
        separator = "&" if "?" in self._location else "?"
        url = f"{self._location}{separator}digest={quote(digest)}"
        with self._send("PUT", url, headers={"Content-Type": "application/octet-stream"}, data=b"") as response:
            if response.status_code == 400 and error_code(response) in ("DIGEST_INVALID", "SIZE_INVALID"):
                raise RegistryError("DigestMismatch", f"registry {self._client.endpoint.host} rejected {self._ref}")
            if response.status_code != 201:
                raise _status_error(self._client, response, f"committing {self._ref}", "push")

    def cancel(self) -> None:
        """DELETE the session (best effort): an unfinished upload never becomes a blob anyway."""
        try:
            self._send("DELETE", self._location).close()
        except RegistryError as error:
            log.info("could not cancel the upload of %s: %s", self._ref, error.reason)


def _range_end(value: str) -> int | None:
    """``0-99`` -> 99; ``0--1`` (registry 2.8 for an empty upload) -> -1; garbage -> None."""
    first, sep, last = value.strip().removeprefix("bytes=").partition("-")
    if not sep or first != "0":
        return None
    try:
        return int(last)
    except ValueError:
        return None


def _status_error(client: RegistryTransport, response: requests.Response, what: str, action: str) -> RegistryError:
    status = response.status_code
    host = client.endpoint.host
    detail = f" ({code})" if (code := error_code(response)) else ""
    if status == 403:
        who = "the configured credentials" if client.endpoint.has_credentials else "anonymous access"
        return RegistryError("Forbidden", f"{who} may not {action} at registry {host}: {what} (HTTP 403)", status)
    if status == 404:
        return RegistryError(
            "CopyFailed", f"{what}: registry {host} lost the upload session (HTTP 404{detail})", status
        )
    reason: Reason = "RegistryProtocolError" if action == "pull" else "CopyFailed"
    return RegistryError(reason, f"{what}: registry {host} answered HTTP {status}{detail}", status)
