"""An in-process Exchange emulator on 127.0.0.1 with a seeded org, and a `requests` client for it."""

from __future__ import annotations

import copy
import json
from typing import Any

import requests

from horizon_publisher.sandbox.exchange import ExchangeStore, create_exchange_app
from horizon_publisher.sandbox.tls_server import BackgroundServer

ORG = "myorg"
OTHER_ORG = "otherorg"
ADMIN = (f"{ORG}/admin", "admin-password")
ALICE = (f"{ORG}/alice", "alice-password")
BOB = (f"{ORG}/bob", "bob-password")
NODE = (f"{ORG}/node1", "node-token")
AGBOT = (f"{ORG}/agbot1", "agbot-token")
CAROL = (f"{OTHER_ORG}/carol", "carol-password")  # an org admin of another org
ROOT = ("root/root", "root-password")
HUB_ADMIN = ("root/hubby", "hub-password")
ALICE_API_KEY = "a" * 64

_TEMPLATE: dict[str, Any] | None = None


def seeded_store(path: Any = None) -> ExchangeStore:
    """A store with the identities above (built once, then copied: PBKDF2 is slow on purpose)."""
    global _TEMPLATE  # noqa: PLW0603 - a per-process cache of the seeded state
    if _TEMPLATE is None:
        template = ExchangeStore()
        template.add_org(ORG)
        template.add_user(ORG, "admin", ADMIN[1], admin=True)
        template.add_user(ORG, "alice", ALICE[1])
        template.add_user(ORG, "bob", BOB[1])
        template.add_api_key(ORG, "alice", ALICE_API_KEY)
        template.add_node(ORG, "node1", NODE[1], owner="alice")
        template.add_agbot(ORG, "agbot1", AGBOT[1])
        template.add_user(OTHER_ORG, "carol", CAROL[1], admin=True)
        template.set_root_password(ROOT[1])
        template.add_user("root", "hubby", HUB_ADMIN[1], hub_admin=True)
        _TEMPLATE = template.snapshot()
    store = ExchangeStore(path)
    store.data = copy.deepcopy(_TEMPLATE)
    store.commit()
    return store


def service_body(
    url: str = "https://example.com/gps", version: str = "1.0.0", arch: str = "amd64", **overrides: Any
) -> dict[str, Any]:
    """A body as hzn sends it (its field order, nulls for absent objects)."""
    body: dict[str, Any] = {
        "label": "gps",
        "description": "GPS service",
        "documentation": "",
        "public": False,
        "url": url,
        "version": version,
        "arch": arch,
        "sharable": "singleton",
        "matchHardware": None,
        "requiredServices": None,
        "userInput": None,
        "deployment": json.dumps({"services": {"gps": {"image": "reg.example/gps@sha256:" + "0" * 64}}}),
        "deploymentSignature": "c2lnbmF0dXJl",
        "clusterDeployment": "",
        "clusterDeploymentSignature": "",
    }
    body.update(overrides)
    return body


GPS_ID = f"{ORG}/example.com-gps_1.0.0_amd64"


class Exchange:
    """The emulator served in a background thread, and a client that speaks to ``/v1``."""

    def __init__(self, store: ExchangeStore, *, accept_iamapikey: bool = True) -> None:
        self.store = store
        self.server = BackgroundServer(create_exchange_app(store, accept_iamapikey=accept_iamapikey), ssl_context=None)

    def __enter__(self) -> Exchange:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.stop()

    @property
    def base(self) -> str:
        return f"{self.server.url}/v1"

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: tuple[str, str] | None = ALICE,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        kwargs: dict[str, Any] = {"auth": auth, "headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        return requests.request(method, self.base + path, timeout=10, **kwargs)

    def create_service(self, body: dict[str, Any] | None = None, auth: tuple[str, str] = ALICE) -> str:
        body = body or service_body()
        response = self.call("POST", f"/orgs/{ORG}/services", auth=auth, json_body=body)
        assert response.status_code == 201, response.text
        return str(response.json()["msg"].split("'")[1])
