"""HTTP transport of the Exchange client: auth header, TLS trust, timeouts, retries, error mapping.

Retries (exponential backoff, ``Retry-After`` honoured up to a cap) apply to 5xx, 429 and lost connections
(refused, reset, closed inside a TLS record, an answer cut mid-body, timed out), and only when the caller
says the request is idempotent (GET, PUT, DELETE); a POST is sent once and the caller finds out by reading
what happened. TLS failures (trust, host name, handshake) are not retried.

The CA is kept in a private file shared by every client of the process (:mod:`.ca_files`) and passed as
``verify=<path>`` on every request, because ``REQUESTS_CA_BUNDLE`` overrides ``Session.verify``. The
session is the client's own, over the process's shared connection pools (:mod:`.shared_http`, which
also applies ``HORIZON_PUBLISHER_CONNECT_TO``), so a reconcile reuses the previous one's TLS connection.
Messages and logs name the method, path and identity, never the password, an API key or a dockauth token
(they are also masked should the server echo them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from horizon_publisher import metrics
from horizon_publisher.clients.ca_files import RequestsVerify
from horizon_publisher.clients.exchange_model import (
    ExchangeConflict,
    ExchangeEndpoint,
    ExchangeError,
    ExchangeForbidden,
    ExchangeNotFound,
    ExchangeRejected,
    ExchangeServerError,
    ExchangeTLSError,
    ExchangeUnauthorized,
    ExchangeUnreachable,
    scrub,
)
from horizon_publisher.clients.retry_after import GATES, retry_after_seconds
from horizon_publisher.clients.shared_http import shared_session
from horizon_publisher.logging_setup import redact

log = logging.getLogger("horizon_publisher.clients.exchange")

MAX_ERROR_TEXT = 300
# How OpenSSL reports a TCP connection the peer closed or reset inside a TLS record (as the registry
# transport also reads it): a lost connection, not a certificate or trust problem.
_CLOSED_MID_TLS = ("EOF occurred in violation of protocol", "UNEXPECTED_EOF_WHILE_READING")




def path_of(*segments: str) -> str:
    """``/a/b/c`` with each segment percent-encoded (a segment never spans a ``/``)."""
    return "".join("/" + quote(segment, safe=":+@-._~,") for segment in segments)


class ExchangeTransport:
    """Sends requests to one Exchange endpoint; thread-safe; ``close()`` gives the CA file back.

    ``session``: used as given; by default a new one over the shared pools (``ValueError`` when
    ``HORIZON_PUBLISHER_CONNECT_TO`` is malformed)."""

    def __init__(
        self,
        endpoint: ExchangeEndpoint,
        *,
        timeout: tuple[float, float],
        retries: int,
        backoff: float,
        session: requests.Session | None,
        sleep: Callable[[float], None],
        max_retry_after: float,
    ) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._timeout = timeout
        self._max_retry_after = max_retry_after
        self._own_session = session is None
        self._session = session if session is not None else shared_session()
        self._trust = RequestsVerify(endpoint.ca_pem, endpoint.insecure_skip_verify)
        if endpoint.insecure_skip_verify:
            log.warning("TLS verification of the Exchange at %s is disabled (insecureSkipTLSVerify)", self._host())

    def close(self) -> None:
        if self._own_session:
            self._session.close()
        self._trust.close()

    def delay(self, attempt: int) -> float:
        return float(self.backoff * (2**attempt))

    def pause(self, error: ExchangeError, attempt: int) -> None:
        """Wait before trying again after ``error``: the backoff; after a Retry-After, nothing here, because
        the next request waits at the gate (:mod:`.retry_after`) like every other one to this Exchange."""
        if error.retry_after is None:
            self.sleep(self.delay(attempt))

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        text_body: str | None = None,
        idempotent: bool,
        expect: Iterable[int] = (200, 201, 204),
        secrets: tuple[str, ...] = (),
        accept: str = "application/json",
    ) -> requests.Response:
        """Send (retrying when idempotent); return a response whose status is in ``expect``, else raise."""
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._send(method, path, json_body, text_body, accept)
            except ExchangeUnreachable:
                if last:
                    raise
                self.sleep(self.delay(attempt))
                continue
            if response.status_code in expect:
                return response
            error = self.error_for(method, path, response, secrets)
            if not error.retryable or last:
                raise error
            self.pause(error, attempt)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _send(self, method: str, path: str, json_body: Any, text_body: str | None, accept: str) -> requests.Response:
        headers = {"Authorization": self.endpoint.authorization(), "Accept": accept}
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["json"] = json_body  # requests sets Content-Type: application/json
        elif text_body is not None:
            kwargs["data"] = text_body.encode()
            headers["Content-Type"] = "text/plain"
        where = f"{method} {path}"
        verify = self._verify()
        self._wait_at_the_gate()
        try:
            with metrics.exchange_call(method, path) as call:
                response = self._session.request(
                    method,
                    self.endpoint.base_url + path,
                    headers=headers,
                    verify=verify,
                    timeout=self._timeout,
                    allow_redirects=False,
                    **kwargs,
                )
                call.status = response.status_code
        except requests.exceptions.SSLError as error:
            if not any(sign in str(error) for sign in _CLOSED_MID_TLS):
                raise ExchangeTLSError(self._tls_message(str(error))) from None
            raise self._unreachable(where, "connection closed") from None
        except (requests.ConnectionError, requests.Timeout) as error:
            timed_out = isinstance(error, requests.Timeout) or "timed out" in str(error)
            raise self._unreachable(where, "timed out" if timed_out else "connection failed") from None
        except requests.exceptions.ChunkedEncodingError:  # the answer's body was cut: a lost connection too
            raise self._unreachable(where, "connection lost mid-response") from None
        except requests.RequestException as error:
            raise ExchangeError(f"{where} to the Exchange failed: {error.__class__.__name__}") from None
        log.debug("%s -> HTTP %d", where, response.status_code)
        GATES.hold_for(self.endpoint.base_url, response.status_code, response.headers.get("Retry-After"))
        return response

    def _wait_at_the_gate(self) -> None:
        """If this Exchange asked (Retry-After) not to be called before some moment, wait for it: any client
        of the process, any reconcile, not only the one that was told."""
        waited = GATES.wait(self.endpoint.base_url, self.sleep)
        if waited:
            log.debug("waited %.1f s: the Exchange at %s asked for it (Retry-After)", waited, self._host())

    def _unreachable(self, where: str, what: str) -> ExchangeUnreachable:
        log.debug("%s -> %s", where, what)
        return ExchangeUnreachable(f"cannot reach the Exchange at {self._host()} ({where}): {what}")

    def _verify(self) -> bool | str:
        try:
            return self._trust.value()
        except ValueError as error:
            raise ExchangeTLSError(f"the CA bundle configured for the Exchange is unusable: {error}") from None

    def _host(self) -> str:
        return urlsplit(self.endpoint.base_url).netloc.rpartition("@")[2]

    def _tls_message(self, text: str) -> str:
        trust = "the configured CA bundle" if self.endpoint.ca_pem is not None else "the system trust store"
        failed = f"TLS verification of the Exchange at {self._host()} failed"
        if "Hostname mismatch" in text or "doesn't match" in text:
            return f"{failed}: certificate not valid for that host name"
        if "certificate has expired" in text:
            return f"{failed}: certificate expired"
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return f"{failed}: certificate not trusted by {trust}"
        return f"TLS handshake with the Exchange at {self._host()} failed"

    def _retry_after(self, response: requests.Response) -> float | None:
        """The response's ``Retry-After`` in seconds, between 0 and the cap; None without a usable one."""
        header = response.headers.get("Retry-After")
        seconds = retry_after_seconds(header) if header else None
        return None if seconds is None else min(max(seconds, 0.0), self._max_retry_after)

    def error_for(self, method: str, path: str, response: requests.Response, secrets: tuple[str, ...]) -> ExchangeError:
        """Map an unexpected status to an error quoting the server's ``msg`` (secrets masked)."""
        status = response.status_code
        code, msg = _code_and_msg(response)
        # The Basic credential itself (base64 of org/user:password) too, should the server echo the header.
        basic = self.endpoint.authorization().split(" ", 1)[-1]
        msg = redact(scrub(msg, (self.endpoint.password, basic, *secrets)))[:MAX_ERROR_TEXT]
        where = f"{method} {path}"
        said = f": {msg}" if msg else ""
        identity = self.endpoint.identity
        # A key, dockauth or policy written for a service that does not exist is the server's 500 foreign-key
        # error: retrying cannot help.
        orphan = status == 500 and code == "internal_error" and "foreign key" in msg
        rules: tuple[tuple[bool, type[ExchangeError], str], ...] = (
            (status == 400, ExchangeRejected, f"the Exchange rejected {where} (invalid input){said}"),
            (status == 401, ExchangeUnauthorized, f"the Exchange refused the credentials of {identity} (HTTP 401)"),
            (status == 403 and code == "already-exists", ExchangeConflict, f"{where}: already exists{said}"),
            (status == 403, ExchangeForbidden, f"access denied to {identity} for {where}{said}"),
            (status == 404, ExchangeNotFound, f"{where}: not found{said}"),
            (status == 409, ExchangeConflict, f"{where}: conflict{said}"),
            (orphan, ExchangeNotFound, f"{where}: the parent resource does not exist{said}"),
            (
                status == 429 or status >= 500,
                ExchangeServerError,
                f"the Exchange answered HTTP {status} to {where}{said}",
            ),
        )
        retry_after = self._retry_after(response)
        for applies, kind, text in rules:
            if applies:
                return kind(text, status, retry_after=retry_after)
        return ExchangeError(f"unexpected HTTP {status} from the Exchange to {where}{said}", status)


def _code_and_msg(response: requests.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text.strip()
    if isinstance(body, dict):
        code, msg = body.get("code"), body.get("msg")
        return (code if isinstance(code, str) else None), (msg if isinstance(msg, str) else "")
    return None, ""


def sleep_seconds(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
