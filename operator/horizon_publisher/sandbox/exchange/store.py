"""The emulated Exchange's state (orgs, users, API keys, nodes, agbots, services with their keys, dockauths
and policies, patterns with their keys, deployment policies), persisted as one JSON document.

The state is written atomically (temporary file, fsync, ``os.replace``) with mode 0600, so a restart finds
the last written state. Gap: in the server, writes are batched (at most every ``FLUSH_DELAY``, 0.5 s, and
on a clean stop), so a crash (SIGKILL) loses up to the last half second of changes, which the real
Exchange (PostgreSQL) would have kept. Passwords, node/agbot tokens and API keys are stored as salted
PBKDF2 hashes; dockauth tokens are stored in clear because the API returns them.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import os
import secrets
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from horizon_publisher.sandbox.exchange.messages import Clock

_SCHEMA = 1
_PBKDF2_ROUNDS = 20_000
# The whole state is one JSON file: with thousands of services, writing it after every request made the
# emulator quadratic (the benchmark's bottleneck). A server writes at most this often; a clean stop flushes.
FLUSH_DELAY = 0.5
_COLLECTIONS = (
    "orgs",
    "users",
    "apikeys",
    "nodes",
    "agbots",
    "services",
    "serviceKeys",
    "dockauths",
    "servicePolicies",
    "patterns",
    "patternKeys",
    "businessPolicies",
)


@dataclass(frozen=True)
class Limits:
    """``api.limits`` of reference.conf (per owning user; 0 = unlimited)."""

    max_services: int = 1000
    max_patterns: int = 1000
    max_business_policies: int = 5000


def hash_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), _PBKDF2_ROUNDS).hex()
    return f"pbkdf2_sha256${_PBKDF2_ROUNDS}${salt}${digest}"


class ExchangeStore:
    """State of the emulated Exchange. ``path=None`` keeps it in memory only (tests)."""

    def __init__(self, path: Path | None = None, *, limits: Limits | None = None) -> None:
        self.path = path
        self.limits = limits or Limits()
        self.clock = Clock()
        self.data: dict[str, Any] = {"schema": _SCHEMA, "nextDockAuthId": 1}
        for name in _COLLECTIONS:
            self.data[name] = {}
        self._lock = threading.Lock()
        self._flush_scheduled = False
        # sha256 of secrets already checked against a stored hash, so PBKDF2 runs once per credential.
        self._verified: dict[str, str] = {}
        if path is not None and path.exists():
            loaded = json.loads(path.read_text())
            if loaded.get("schema") != _SCHEMA:
                raise ValueError(f"{path}: unknown Exchange state schema {loaded.get('schema')!r}")
            self.data.update(loaded)

    # -- persistence -------------------------------------------------------------------------------------

    def commit(self) -> None:
        """Persist the state soon: within :data:`FLUSH_DELAY` when called on a running event loop (the server:
        writes in a burst share one file write, which rewrites the whole state), at once otherwise."""
        if self.path is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Write the state atomically (a reader or a restart never sees half a file)."""
        self._flush_scheduled = False
        if self.path is None:
            return
        with self._lock:
            text = json.dumps(self.data, sort_keys=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)

    def now(self) -> str:
        return self.clock.now()

    # -- collections -------------------------------------------------------------------------------------

    def collection(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = self.data[name]
        return table

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.collection("services")

    @property
    def patterns(self) -> dict[str, dict[str, Any]]:
        return self.collection("patterns")

    @property
    def business_policies(self) -> dict[str, dict[str, Any]]:
        return self.collection("businessPolicies")

    def next_dockauth_id(self) -> int:
        """The PostgreSQL serial shared by every service's dockauths (consumed even by a failed insert)."""
        value = int(self.data["nextDockAuthId"])
        self.data["nextDockAuthId"] = value + 1
        return value

    # -- identities --------------------------------------------------------------------------------------

    def add_org(
        self, org: str, *, org_type: str = "", label: str | None = None, description: str | None = None
    ) -> None:
        orgs = self.collection("orgs")
        if org not in orgs:
            orgs[org] = {
                "orgType": org_type,
                "label": label if label is not None else org,
                "description": description if description is not None else org,
                "lastUpdated": self.now(),
                "tags": None,
                "limits": {"maxNodes": 0},
                "heartbeatIntervals": {"minInterval": 0, "maxInterval": 0, "intervalAdjustment": 0},
            }
            self.commit()

    def add_user(
        self, org: str, username: str, password: str, *, admin: bool = False, hub_admin: bool = False, email: str = ""
    ) -> str:
        """Create (or replace) a user; returns its UUID (what ``owner`` columns store)."""
        self.add_org(org)
        users = self.collection("users")
        key = f"{org}/{username}"
        user_uuid = users[key]["uuid"] if key in users else str(uuid.uuid4())
        users[key] = {
            "uuid": user_uuid,
            "passwordHash": hash_secret(password),
            "admin": admin,
            "hubAdmin": hub_admin,
            "email": email,
            "lastUpdated": self.now(),
            "updatedBy": "",
        }
        self.commit()
        return user_uuid

    def set_root_password(self, password: str) -> None:
        """``root/root``, the superuser (its password comes from the config in the real server)."""
        self.add_user("root", "root", password, admin=True, hub_admin=True)

    def add_api_key(
        self, org: str, username: str, value: str | None = None, *, description: str = "", label: str = ""
    ) -> tuple[str, str]:
        """An Exchange API key of ``org/username``; returns (id, value). The value is only stored hashed."""
        if f"{org}/{username}" not in self.collection("users"):
            raise KeyError(f"no user {org}/{username}")
        key_value = value if value is not None else secrets.token_hex(32)
        key_id = str(uuid.uuid4())
        self.collection("apikeys")[key_id] = {
            "org": org,
            "username": username,
            "hash": hash_secret(key_value),
            "description": description,
            "label": label,
            "lastUpdated": self.now(),
        }
        self.commit()
        return key_id, key_value

    def add_node(self, org: str, node_id: str, token: str, *, owner: str | None = None) -> None:
        self._add_device("nodes", org, node_id, token, owner)

    def add_agbot(self, org: str, agbot_id: str, token: str, *, owner: str | None = None) -> None:
        self._add_device("agbots", org, agbot_id, token, owner)

    def _add_device(self, table: str, org: str, name: str, token: str, owner: str | None) -> None:
        self.add_org(org)
        owner_uuid = self.collection("users")[f"{org}/{owner}"]["uuid"] if owner else None
        self.collection(table)[f"{org}/{name}"] = {"tokenHash": hash_secret(token), "owner": owner_uuid}
        self.commit()

    def user(self, org: str, username: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.collection("users").get(f"{org}/{username}")
        return found

    def owner_name(self, user_uuid: str | None) -> str:
        """``org/username`` of the user with that UUID (how ``owner`` is rendered)."""
        for name, record in self.collection("users").items():
            if record["uuid"] == user_uuid:
                return str(name)
        return ""

    def check_secret(self, stored_hash: str, secret: str) -> bool:
        fingerprint = hashlib.sha256(secret.encode()).hexdigest()
        if self._verified.get(stored_hash) == fingerprint:
            return True
        try:
            _, rounds, salt, digest = stored_hash.split("$")
            computed = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(rounds)).hex()
        except ValueError:
            return False
        if hmac.compare_digest(computed, digest):
            self._verified[stored_hash] = fingerprint
            return True
        return False

    def user_for_api_key(self, org: str, secret: str) -> str | None:
        """The username whose API key in ``org`` is ``secret`` (the server compares against every key)."""
        for record in self.collection("apikeys").values():
            if record["org"] == org and self.check_secret(record["hash"], secret):
                return str(record["username"])
        return None

    def count_owned(self, table: str, owner_uuid: str | None) -> int:
        return sum(1 for record in self.collection(table).values() if record.get("owner") == owner_uuid)
