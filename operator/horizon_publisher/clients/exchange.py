"""A synchronous Open Horizon Exchange client (``requests``) with an observe/ensure face, for kopf's threads.

Contract: ``exchange-api.md`` (exchange-api 2.154.0). Every ``ensure_*`` reads first and writes only what
differs, comparing only the fields we send (see :func:`covers`): a second ensure with the same body is one
GET. Creation follows hzn: ``GET`` then ``POST`` when absent or ``PUT`` when different.

A POST is never retried blindly (its response may be lost after the server created the object): after a
failure the client waits (the server's ``Retry-After`` when it sent one, else the backoff), reads the object
(or the dockauth list) again and only re-sends when it is absent. A POST
answered ``403 already-exists`` (someone created it meanwhile) falls back to compare-and-PUT.

Dockauth ids: parsed from ``dockauth <id> added`` (ids are grouped, ``1,234``); the server says ``dockauth
resource updated`` both for an exact duplicate and for id 1, so then the list is read to find the row.

Gaps: no PATCH (full PUTs only); list GETs are not paged (the Exchange does not page); the visibility rule
that hides another user's private service (404) surfaces as a conflict on create, explained in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from horizon_publisher.clients.exchange_http import ExchangeTransport, path_of, sleep_seconds
from horizon_publisher.clients.exchange_model import (
    JSON,
    PATTERN_EXACT,
    POLICY_EXACT,
    SERVICE_EXACT,
    EnsureResult,
    ExchangeConflict,
    ExchangeEndpoint,
    ExchangeError,
    covers,
    dockauth_id_from_message,
    expected_business_policy,
    expected_pattern,
    expected_service,
    expected_service_policy,
    service_id,
)

__all__ = ["EnsureResult", "ExchangeClient", "ExchangeEndpoint", "ExchangeError", "service_id"]

_FOUND_OR_MISSING = (200, 404)


class _NotRead:
    """Marks "not read yet" apart from ``None`` ("read, and absent")."""


NOT_READ = _NotRead()


def _once(observed: JSON | _NotRead | None, read: Callable[[], JSON | None]) -> Callable[[], JSON | None]:
    """The first read answers with what was observed already; later reads (after a conflict) ask again."""
    pending = [observed]

    def reader() -> JSON | None:
        if pending and not isinstance(pending[0], _NotRead):
            value = pending.pop()
            assert not isinstance(value, _NotRead)
            return value
        pending.clear()
        return read()

    return reader


class ExchangeClient:
    """One Exchange endpoint and org. Thread-safe; ``close()`` it (or use ``with``)."""

    service_id = staticmethod(service_id)

    def __init__(
        self,
        endpoint: ExchangeEndpoint,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = sleep_seconds,
        max_retry_after: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self._http = ExchangeTransport(
            endpoint,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            session=session,
            sleep=sleep,
            max_retry_after=max_retry_after,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def org(self) -> str:
        return self.endpoint.org

    def server_version(self) -> str:
        """``GET /admin/version`` (e.g. ``2.154.0``): a reachability probe."""
        response = self._http.request("GET", "/admin/version", idempotent=True, expect=(200,), accept="text/plain")
        return response.text.strip()

    # --- services ------------------------------------------------------------------------------------

    def _service_path(self, sid: str, *rest: str) -> str:
        return path_of("orgs", self.org, "services", sid, *rest)

    def get_service(self, sid: str) -> JSON | None:
        """The service as GET returns it, or ``None`` when absent (or invisible to this identity)."""
        return self._get_entry(self._service_path(sid), "services", sid)

    def find_services(self, url: str, version: str) -> dict[str, JSON]:
        """Every service of ``url`` at ``version`` this identity sees, by service id (all arches in one
        ``GET /orgs/{org}/services?url=URL&version=VERSION``); ``{}`` when none (404)."""
        query = urlencode({"url": url, "version": version})
        response = self._http.request(
            "GET", f"{path_of('orgs', self.org, 'services')}?{query}", idempotent=True, expect=_FOUND_OR_MISSING
        )
        if response.status_code == 404:
            return {}
        body = _json(response, f"services of {url} {version}")
        entries = body.get("services") if isinstance(body, dict) else None
        if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
            raise ExchangeError(f"the Exchange sent no 'services' map for {url} {version}")
        prefix = f"{self.org}/"
        return {key.removeprefix(prefix): value for key, value in entries.items() if key.startswith(prefix)}

    def ensure_service(
        self, sid: str, body: Mapping[str, Any], *, observed: JSON | _NotRead | None = NOT_READ
    ) -> EnsureResult:
        """GET; POST when absent, PUT when any field we send differs, nothing when equal.

        ``observed``: what a GET of this service returned earlier in the same reconcile (``None`` when
        absent), so the read is not repeated.
        """
        derived = service_id(str(body.get("url")), str(body.get("version")), str(body.get("arch")))
        if derived != sid:
            raise ValueError(f"service id {sid!r} does not match the body's url, version and arch ({derived!r})")
        return self._ensure(
            f"service {self.org}/{sid}",
            read=_once(observed, lambda: self.get_service(sid)),
            create=lambda: self._write("POST", path_of("orgs", self.org, "services"), body),
            replace=lambda: self._write("PUT", self._service_path(sid), body),
            expected=expected_service(body),
            exact=SERVICE_EXACT,
        )

    def delete_service(self, sid: str) -> bool:
        """Delete (keys, dockauths and policy go with it); ``False`` when it was already absent."""
        return self._delete(self._service_path(sid))

    # --- keys ----------------------------------------------------------------------------------------

    def get_service_keys(self, sid: str) -> list[str]:
        return self._key_ids(self._service_path(sid, "keys"))

    def get_service_key(self, sid: str, key_id: str) -> str | None:
        return self._key_text(self._service_path(sid, "keys", key_id))

    def put_service_key(self, sid: str, key_id: str, pem: str) -> None:
        """Upsert the raw PEM under ``key_id`` (a certificate or a PKIX public key)."""
        self._http.request("PUT", self._service_path(sid, "keys", key_id), text_body=pem, idempotent=True)

    def ensure_service_key(self, sid: str, key_id: str, pem: str) -> EnsureResult:
        stored = self.get_service_key(sid, key_id)
        if stored == pem:
            return "unchanged"
        self.put_service_key(sid, key_id, pem)
        return "created" if stored is None else "updated"

    def delete_service_key(self, sid: str, key_id: str) -> bool:
        return self._delete(self._service_path(sid, "keys", key_id))

    # --- dockauths -----------------------------------------------------------------------------------

    def list_dockauths(self, sid: str) -> list[JSON]:
        """``[{dockAuthId, registry, username, token, lastUpdated}]`` sorted by id; ``[]`` when none."""
        response = self._http.request(
            "GET", self._service_path(sid, "dockauths"), idempotent=True, expect=_FOUND_OR_MISSING
        )
        rows = _json(response, "the dockauth list")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ExchangeError(f"the Exchange sent an unexpected dockauth list for {self.org}/{sid}")
        return rows

    def add_dockauth(self, sid: str, registry: str, username: str, token: str) -> int:
        """POST a dockauth; returns its id (an identical existing row is reused by the server)."""
        body = {"registry": registry, "username": username, "token": token}
        path = self._service_path(sid, "dockauths")
        attempts = self._http.retries + 1
        for attempt in range(attempts):
            try:
                response = self._http.request("POST", path, json_body=body, idempotent=False, secrets=(token,))
            except ExchangeError as error:
                if not error.retryable or attempt == attempts - 1:
                    raise
                self._http.pause(error, attempt)
                found = self._find_dockauth(sid, registry, username, token)  # did the lost POST land?
                if found is not None:
                    return found
                continue
            msg = _json(response, "the dockauth answer")
            new_id = dockauth_id_from_message(str(msg.get("msg", ""))) if isinstance(msg, dict) else None
            if new_id is not None:
                return new_id
            found = self._find_dockauth(sid, registry, username, token)
            if found is None:
                raise ExchangeError(f"the Exchange accepted a dockauth for {self.org}/{sid} but does not list it")
            return found
        raise AssertionError("unreachable")

    def _find_dockauth(self, sid: str, registry: str, username: str, token: str) -> int | None:
        # The server stores a missing username as "token"; hzn-style "" is stored as "".
        wanted = (registry, username, token)
        ids = [
            int(row["dockAuthId"])
            for row in self.list_dockauths(sid)
            if (row.get("registry"), row.get("username"), row.get("token")) == wanted
        ]
        return max(ids) if ids else None

    def delete_dockauth(self, sid: str, dockauth_id: int) -> bool:
        return self._delete(self._service_path(sid, "dockauths", str(int(dockauth_id))))

    # --- service policy ------------------------------------------------------------------------------

    def get_service_policy(self, sid: str) -> JSON | None:
        response = self._http.request(
            "GET", self._service_path(sid, "policy"), idempotent=True, expect=_FOUND_OR_MISSING
        )
        if response.status_code == 404:
            return None
        policy = _json(response, "the service policy")
        if not isinstance(policy, dict):
            raise ExchangeError(f"the Exchange sent an unexpected service policy for {self.org}/{sid}")
        return policy

    def put_service_policy(self, sid: str, policy: Mapping[str, Any]) -> None:
        self._write("PUT", self._service_path(sid, "policy"), policy)

    def ensure_service_policy(self, sid: str, policy: Mapping[str, Any]) -> EnsureResult:
        stored = self.get_service_policy(sid)
        if stored is not None and covers(stored, expected_service_policy(policy), POLICY_EXACT):
            return "unchanged"
        self.put_service_policy(sid, policy)  # PUT is an upsert here
        return "created" if stored is None else "updated"

    def delete_service_policy(self, sid: str) -> bool:
        return self._delete(self._service_path(sid, "policy"))

    # --- patterns ------------------------------------------------------------------------------------

    def _pattern_path(self, name: str, *rest: str) -> str:
        return path_of("orgs", self.org, "patterns", name, *rest)

    def get_pattern(self, name: str) -> JSON | None:
        return self._get_entry(self._pattern_path(name), "patterns", name)

    def ensure_pattern(self, name: str, body: Mapping[str, Any]) -> EnsureResult:
        path = self._pattern_path(name)
        return self._ensure(
            f"pattern {self.org}/{name}",
            read=lambda: self.get_pattern(name),
            create=lambda: self._write("POST", path, body),
            replace=lambda: self._write("PUT", path, body),
            expected=expected_pattern(body),
            exact=PATTERN_EXACT,
        )

    def delete_pattern(self, name: str) -> bool:
        return self._delete(self._pattern_path(name))

    def get_pattern_keys(self, name: str) -> list[str]:
        return self._key_ids(self._pattern_path(name, "keys"))

    def put_pattern_key(self, name: str, key_id: str, pem: str) -> None:
        self._http.request("PUT", self._pattern_path(name, "keys", key_id), text_body=pem, idempotent=True)

    def delete_pattern_key(self, name: str, key_id: str) -> bool:
        return self._delete(self._pattern_path(name, "keys", key_id))

    # --- deployment (business) policies --------------------------------------------------------------

    def _policy_path(self, name: str) -> str:
        return path_of("orgs", self.org, "business", "policies", name)

    def get_business_policy(self, name: str) -> JSON | None:
        return self._get_entry(self._policy_path(name), "businessPolicy", name)

    def ensure_business_policy(self, name: str, body: Mapping[str, Any]) -> EnsureResult:
        path = self._policy_path(name)
        return self._ensure(
            f"deployment policy {self.org}/{name}",
            read=lambda: self.get_business_policy(name),
            create=lambda: self._write("POST", path, body),
            replace=lambda: self._write("PUT", path, body),
            expected=expected_business_policy(body),
            exact=POLICY_EXACT,
        )

    def delete_business_policy(self, name: str) -> bool:
        return self._delete(self._policy_path(name))

    # --- shared --------------------------------------------------------------------------------------

    def _ensure(
        self,
        what: str,
        *,
        read: Callable[[], JSON | None],
        create: Callable[[], None],
        replace: Callable[[], None],
        expected: JSON,
        exact: frozenset[str],
    ) -> EnsureResult:
        existing = read()
        if existing is not None:
            if covers(existing, expected, exact):
                return "unchanged"
            replace()
            return "updated"
        attempts = self._http.retries + 1
        for attempt in range(attempts):
            try:
                create()
            except ExchangeConflict:
                existing = read()  # created meanwhile by someone else, or hidden from us
                if existing is None:
                    raise ExchangeConflict(
                        f"{what} already exists but {self.endpoint.identity} cannot see it "
                        "(a private service of another user?)",
                        403,
                    ) from None
                if covers(existing, expected, exact):
                    return "unchanged"
                replace()
                return "updated"
            except ExchangeError as error:
                if not error.retryable or attempt == attempts - 1:
                    raise
                self._http.pause(error, attempt)
                existing = read()  # did the lost POST land?
                if existing is None:
                    continue
                if not covers(existing, expected, exact):
                    replace()
                    return "updated"
            return "created"
        raise AssertionError("unreachable")

    def _write(self, method: str, path: str, body: Mapping[str, Any]) -> None:
        self._http.request(method, path, json_body=dict(body), idempotent=method != "POST")

    def _delete(self, path: str) -> bool:
        response = self._http.request("DELETE", path, idempotent=True, expect=(200, 204, 404))
        return response.status_code != 404

    def _get_entry(self, path: str, container: str, name: str) -> JSON | None:
        """The one entry of ``{container: {"org/name": {...}}, "lastIndex": 0}``; ``None`` on 404."""
        response = self._http.request("GET", path, idempotent=True, expect=_FOUND_OR_MISSING)
        if response.status_code == 404:
            return None
        body = _json(response, f"{container} of {self.org}/{name}")
        entries = body.get(container) if isinstance(body, dict) else None
        if not isinstance(entries, dict):
            raise ExchangeError(f"the Exchange sent no {container!r} map for {self.org}/{name}")
        entry = entries.get(f"{self.org}/{name}")
        if entry is None and len(entries) == 1:
            entry = next(iter(entries.values()))
        if entry is not None and not isinstance(entry, dict):
            raise ExchangeError(f"the Exchange sent a malformed {container!r} entry for {self.org}/{name}")
        return entry

    def _key_ids(self, path: str) -> list[str]:
        response = self._http.request("GET", path, idempotent=True, expect=_FOUND_OR_MISSING)
        ids = _json(response, "the key list")
        if not isinstance(ids, list) or not all(isinstance(key_id, str) for key_id in ids):
            raise ExchangeError(f"the Exchange sent an unexpected key list for {path}")
        return ids

    def _key_text(self, path: str) -> str | None:
        response = self._http.request("GET", path, idempotent=True, expect=_FOUND_OR_MISSING, accept="text/plain, */*")
        return None if response.status_code == 404 else response.content.decode("utf-8", errors="replace")


def _json(response: requests.Response, what: str) -> Any:
    if response.status_code == 404 and not response.content:
        return []
    try:
        return response.json()
    except ValueError:
        raise ExchangeError(f"the Exchange sent {what} that is not JSON (HTTP {response.status_code})") from None
