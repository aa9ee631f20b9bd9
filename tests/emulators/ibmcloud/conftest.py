"""Fixtures: the IBM Cloud IAM + Container Registry emulator served on 127.0.0.1 with an injected clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher.sandbox.ibmcloud import (
    APIKEY_GRANT_TYPE,
    ApiKeyIdentity,
    IbmCloudConfig,
    ImageRow,
    serve_ibmcloud,
)

ALICE_KEY = "alice-api-key-0123456789"
BOB_KEY = "bob-service-id-key-9876543210"
ALICE = ApiKeyIdentity(account_id="a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6", iam_id="IBMid-alice0001", ims_user_id=4242)
BOB = ApiKeyIdentity(account_id="ffffeeeeddddccccbbbbaaaa99998888", iam_id="iam-ServiceId-bob-0001")
API_KEYS = {ALICE_KEY: ALICE, BOB_KEY: BOB}
START = 1_800_000_000.0


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class IbmCloud:
    url: str
    clock: FakeClock
    images: list[ImageRow] = field(default_factory=list)

    def exchange(self, api_key: str | None, grant_type: str | None = APIKEY_GRANT_TYPE) -> requests.Response:
        form = {name: value for name, value in (("grant_type", grant_type), ("apikey", api_key)) if value is not None}
        return requests.post(
            f"{self.url}/identity/token", data=form, headers={"Accept": "application/json"}, timeout=10
        )

    def token(self, api_key: str) -> str:
        response = self.exchange(api_key)
        response.raise_for_status()
        access_token: str = response.json()["access_token"]
        return access_token

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        account: str | None,
        extra_headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"Accept": "application/json", **(extra_headers or {})}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if account is not None:
            headers["Account"] = account
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def ibmcloud_factory(signing_key: rsa.RSAPrivateKey) -> Iterator[Callable[..., IbmCloud]]:
    servers = []

    def make(**overrides: Any) -> IbmCloud:
        clock = FakeClock()
        images: list[ImageRow] = []
        config = IbmCloudConfig(
            api_keys=API_KEYS, signing_key=signing_key, clock=clock, images=lambda: list(images), **overrides
        )
        server = serve_ibmcloud(config)
        servers.append(server)
        return IbmCloud(server.url, clock, images)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def ibmcloud(ibmcloud_factory: Callable[..., IbmCloud]) -> IbmCloud:
    return ibmcloud_factory()
