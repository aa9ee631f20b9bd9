"""Reaching the registry by its route host name through a connect-to mapping (no DNS, no /etc/hosts)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from registry_harness import SandboxRegistry

from horizon_publisher.clients.connect_to import mount_connect_to, parse_connect_to
from horizon_publisher.sandbox.images import push_image, resolve_digest


@contextmanager
def mapped_session(host: str, registry: SandboxRegistry) -> Iterator[requests.Session]:
    entry = parse_connect_to(f"{host}:443:127.0.0.1:{registry.process.port}")
    with mount_connect_to(requests.Session(), [entry]) as session:
        yield session


def test_route_host_with_the_sandbox_ca(token_registry: SandboxRegistry) -> None:
    route = token_registry.pki.registry_host
    with mapped_session(route, token_registry) as session:
        response = session.get(f"https://{route}/v2/", verify=token_registry.ca, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
        # A whole push: the registry's upload Location URLs name the route host, and follow the mapping too.
        base = f"https://{route}"
        creds = ("u", "pusher-token")
        digest = push_image(base, "demo/routed", "v1", credentials=creds, verify=token_registry.ca, session=session)
        resolved = resolve_digest(
            base, "demo/routed", "v1", credentials=creds, verify=token_registry.ca, session=session
        )
    assert resolved == digest


def test_host_outside_the_certificate_is_refused(token_registry: SandboxRegistry) -> None:
    with (
        mapped_session("registry.elsewhere.test", token_registry) as session,
        pytest.raises(requests.exceptions.SSLError, match=r"match|mismatch"),
    ):
        session.get("https://registry.elsewhere.test/v2/", verify=token_registry.ca, timeout=10)


def test_without_the_sandbox_ca_verification_fails(token_registry: SandboxRegistry) -> None:
    route = token_registry.pki.registry_host
    with (
        mapped_session(route, token_registry) as session,
        pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"),
    ):
        session.get(f"https://{route}/v2/", verify=True, timeout=10)
