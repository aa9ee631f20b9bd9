"""The resync timers write their status themselves, with this writer, instead of through kopf's patch.

kopf (1.45) applies a timer's patch after the handler returns; if that PATCH fails (a 409 Conflict, a 5xx
that outlasts kopf's retries, a 403), the exception ends the timer's task and kopf never starts it again
for that object (``forever_stopped``): the resource is never resynced again until the operator restarts.
Here a failed write is logged and the next tick writes the status again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from horizon_publisher.clients.kube import api_client_from_environment
from horizon_publisher.kinds import Kind

log = logging.getLogger(__name__)
TIMEOUT = (5.0, 30.0)


class StatusWriter(Protocol):
    def write(self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        """Merge-patch ``status`` into the object's status subresource; False (logged) if that failed."""


class ApiStatusWriter:
    def __init__(self, api: client.ApiClient) -> None:
        self._objects = client.CustomObjectsApi(api)

    @classmethod
    def from_environment(cls) -> ApiStatusWriter:
        """In a pod: the service account; elsewhere: the current kubeconfig context (as clients.kube, with its
        connection pool size)."""
        return cls(api_client_from_environment())

    def write(self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any]) -> bool:
        try:
            self._objects.patch_namespaced_custom_object_status(
                kind.group,
                kind.version,
                namespace,
                kind.plural,
                name,
                {"status": dict(status)},
                _content_type="application/merge-patch+json",
                _request_timeout=TIMEOUT,
            )
        except ApiException as error:
            if error.status == 404:
                return False  # deleted meanwhile: nothing to report on
            log.warning(
                "status of %s %s/%s not written (HTTP %s %s): the next resync writes it",
                kind.kind, namespace, name, error.status, error.reason,
            )  # fmt: skip
            return False
        except (HTTPError, OSError) as error:
            log.warning(
                "status of %s %s/%s not written (%s): the next resync writes it",
                kind.kind, namespace, name, type(error).__name__,
            )  # fmt: skip
            return False
        return True
