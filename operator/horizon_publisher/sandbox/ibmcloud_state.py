"""What the sandbox's IBM Cloud emulator keeps in ``STATE/ibmcloud/`` across restarts.

- ``seed.json`` (0600): our account (API key, account id, IAM id), an "other" account owning the
  namespace ``taken-by-other``, and the region's registry host; made once, like the Exchange seed.
- ``namespaces.json``: namespaces created with ``PUT /api/v1/namespaces/NS`` (name -> account id), so
  they outlive a restart together with the ICR registry's storage.
- ``iam-signing.key`` (0600): the IAM emulator's RS256 key, so access tokens outlive a restart too.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher.sandbox.ibmcloud_iam import ApiKeyIdentity
from horizon_publisher.sandbox.layout import write_json, write_secret

REGISTRY_HOST = "us.icr.io"  # region us-south
OTHER_ACCOUNT_NAMESPACE = "taken-by-other"
SEED_FILE = "seed.json"
NAMESPACES_FILE = "namespaces.json"
SIGNING_KEY_FILE = "iam-signing.key"


def _service_id() -> str:
    return f"iam-ServiceId-{uuid.uuid4()}"


@dataclass(frozen=True)
class IbmCloudSeed:
    """Two accounts, ours with two service-ID API keys, the other with one (JSON keys: camelCase field names)."""

    api_key: str = field(repr=False)
    account_id: str
    iam_id: str
    other_api_key: str = field(repr=False)
    other_account_id: str
    other_iam_id: str
    other_account_namespace: str = OTHER_ACCOUNT_NAMESPACE
    registry_host: str = REGISTRY_HOST
    # A second key of our account, so that key rotation can be exercised end to end.
    second_api_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @classmethod
    def generate(cls) -> IbmCloudSeed:
        return cls(
            api_key=secrets.token_urlsafe(32),
            account_id=uuid.uuid4().hex,
            iam_id=_service_id(),
            other_api_key=secrets.token_urlsafe(32),
            other_account_id=uuid.uuid4().hex,
            other_iam_id=_service_id(),
        )

    def api_keys(self) -> dict[str, ApiKeyIdentity]:
        return {
            self.api_key: ApiKeyIdentity(self.account_id, self.iam_id),
            self.second_api_key: ApiKeyIdentity(self.account_id, self.iam_id),
            self.other_api_key: ApiKeyIdentity(self.other_account_id, self.other_iam_id),
        }

    def to_json(self) -> dict[str, str]:
        return {
            "apiKey": self.api_key,
            "accountId": self.account_id,
            "iamId": self.iam_id,
            "otherApiKey": self.other_api_key,
            "otherAccountId": self.other_account_id,
            "otherIamId": self.other_iam_id,
            "otherAccountNamespace": self.other_account_namespace,
            "registryHost": self.registry_host,
            "secondApiKey": self.second_api_key,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> IbmCloudSeed:
        return cls(
            api_key=str(raw["apiKey"]),
            account_id=str(raw["accountId"]),
            iam_id=str(raw["iamId"]),
            other_api_key=str(raw["otherApiKey"]),
            other_account_id=str(raw["otherAccountId"]),
            other_iam_id=str(raw["otherIamId"]),
            other_account_namespace=str(raw["otherAccountNamespace"]),
            registry_host=str(raw["registryHost"]),
            **({"second_api_key": str(raw["secondApiKey"])} if "secondApiKey" in raw else {}),
        )


def ensure_seed(directory: Path) -> IbmCloudSeed:
    """The seed in ``directory``, made (0600) on first use and kept afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SEED_FILE
    if path.exists():
        return load_seed(directory)
    seed = IbmCloudSeed.generate()
    write_json(path, seed.to_json(), mode=0o600)
    return seed


def load_seed(directory: Path) -> IbmCloudSeed:
    return IbmCloudSeed.from_json(json.loads((directory / SEED_FILE).read_text()))


class NamespaceStore:
    """``namespaces.json``: created namespaces, rewritten whole (atomically) after each creation."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._owners = self.load()

    def load(self) -> dict[str, str]:
        try:
            raw = json.loads(self._path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {str(name): str(account) for name, account in raw.items()} if isinstance(raw, dict) else {}

    def record(self, name: str, account_id: str) -> None:
        self._owners[name] = account_id
        write_json(self._path, self._owners)


def ensure_signing_key(path: Path) -> rsa.RSAPrivateKey:
    """The IAM emulator's RSA key at ``path`` (made once, 0600)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_secret(path, pem.decode())
    return key
