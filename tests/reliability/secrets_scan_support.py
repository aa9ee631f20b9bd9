"""What the secrets scan plants, collects and looks for (tests/reliability/test_secrets_scan.py runs it).

- :class:`Planted`: every secret value by label; :func:`variants` are the forms a leak could take (raw, base64,
  base64url, ``user:secret`` as Basic/docker ``auth`` encode it, and every line of a PEM body).
- :class:`Outputs`: the operator log (all levels: it runs with -v), every Event, every resource as read at
  several moments (status included), every /metrics scrape.
- :class:`TokenCollector`: reads the OpenShift image's output Secret twice a second, so every service-account
  token the operator ever wrote is known, rotated ones included.
- :func:`independent_registry_token`: a bearer token from a registry's token realm, obtained with the same
  credentials the operator uses. Registry and IAM tokens are JWTs issued per request, so an independent one
  never equals the operator's; the scan therefore also refuses any JWT-shaped text (:data:`JWT`) anywhere.
  The sandbox keeps no log of issued tokens that could give the operator's exact values.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from horizon_publisher.clients.connect_to import parse_connect_to_list, session_with_connect_to
from horizon_publisher.clients.registry_auth_client import parse_challenges
from tests.e2e.service_image_kube import Kube, docker_auths, secret_path

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----\s*\n(?P<body>[A-Za-z0-9+/=\s]+?)-----END")


@dataclass
class Planted:
    """label -> secret value; ``users`` are the names paired with secrets in Basic and docker auth."""

    values: dict[str, str] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)

    def add(self, label: str, value: str, user: str | None = None) -> None:
        assert len(value) >= 8, f"{label} is too short to scan for"
        self.values[label] = value
        if user:
            self.users.add(user)


def variants(value: str, users: Iterable[str]) -> set[str]:
    raw = value.encode()
    found = {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    found |= {base64.b64encode(f"{user}:{value}".encode()).decode() for user in users}
    body = PEM_BODY.search(value)
    if body:  # a partial key leak shows a line of the body, not the whole PEM: every full line is a variant
        found |= {line for line in body["body"].split() if len(line) == 64}
    return {v for v in found if len(v) >= 8}


def string_leaves(value: Any) -> Iterable[str]:
    """Every string in a JSON value, keys too (JSON text escapes newlines, so PEM would hide in a dump)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from string_leaves(item)


@dataclass
class Outputs:
    log: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)

    def sources(self) -> dict[str, str]:
        def text(value: Any) -> str:
            return json.dumps(value) + "\n" + "\n".join(string_leaves(value))

        return {
            "operator log": self.log,
            "events": text(self.events),
            "resources (status included)": text(self.resources),
            "metrics": "\n".join(self.metrics),
        }


def leaks(planted: Planted, outputs: Outputs) -> dict[str, list[str]]:
    """source -> labels of the secrets found in it (never the values)."""
    found: dict[str, list[str]] = {}
    for source, text in outputs.sources().items():
        for label, value in planted.values.items():
            if any(variant in text for variant in variants(value, planted.users)):
                found.setdefault(source, []).append(label)
    return found


@dataclass
class TokenCollector:
    """Every token the operator wrote into one output Secret, read twice a second until stopped."""

    kube: Kube
    namespace: str
    secret_name: str
    host: str
    tokens: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="token-collector", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def read(self) -> None:
        secret = self.kube.get(secret_path(self.namespace, self.secret_name))
        if secret is not None:
            entry = docker_auths(secret).get(self.host)
            if entry is not None:
                self.tokens.add(entry.token.reveal())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.read()


def independent_registry_token(
    registry_url: str, repository: str, credentials: tuple[str, str], ca: str, connect_to: str = ""
) -> str:
    """A pull token for ``repository`` from the realm the registry's 401 challenge names."""
    with session_with_connect_to(parse_connect_to_list(connect_to)) as session:
        challenge = session.get(f"{registry_url}/v2/", verify=ca, timeout=10)
        assert challenge.status_code == 401, challenge.status_code
        bearer = next(c for c in parse_challenges(challenge.headers["WWW-Authenticate"]) if c.scheme == "Bearer")
        params = {"service": bearer.service or "", "scope": f"repository:{repository}:pull"}
        answer = session.get(str(bearer.realm), params=params, auth=credentials, verify=ca, timeout=10)
    assert answer.status_code == 200, answer.status_code
    token: str = answer.json()["token"]
    return token


def independent_iam_token(iam_url: str, api_key: str, ca: str) -> str:
    answer = requests.post(
        f"{iam_url}/identity/token",
        data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": api_key},
        verify=ca,
        timeout=10,
    )
    assert answer.status_code == 200, answer.status_code
    token: str = answer.json()["access_token"]
    return token


def scrape(url: str) -> str:
    with requests.Session() as session:
        session.trust_env = False  # nothing between us and 127.0.0.1
        response = session.get(url, timeout=5)
    response.raise_for_status()
    return response.text
