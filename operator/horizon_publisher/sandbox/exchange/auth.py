"""Authentication and authorization as exchange-api 2.154.0 does them (``ExchangeApiApp.basicAuthenticator``,
``auth/IUser|INode|IAgbot.authorizeTo``, ``api.acls`` of reference.conf).

Authentication: HTTP Basic only, user part ``<org>/<name>`` (org = up to the first ``/``), secret after the
first ``:``. ``org/apikey:KEY`` matches KEY against every API key of ``org`` and acts as the key's user. An
``org/name`` is looked up as a node, then an agbot, then a user. 401 bodies: an unknown identity gives
``{"code":"invalid-credentials","msg":"unauthorized"}``; a wrong secret, a missing or malformed header,
or an API key that matches nothing give ``msg`` ``invalid.credentials`` (the untranslated key, literally).

``org/iamapikey:KEY`` is accepted here *as IBM Edge Application Manager (IEAM) accepts it*, checked against
the org's Exchange API keys (IEAM checks IBM Cloud IAM instead). Open-source Exchange 2.154.0 refuses it
(401, the IAM login module is disabled); pass ``accept_iamapikey=False`` to :func:`authenticate` to get that.

Authorization maps READ/WRITE/CREATE on a target to a specific access (``READ_MY_SERVICES``,
``WRITE_ALL_PATTERNS``, ``CREATE_IN_OTHER_ORGS``...) and checks it against the role's ACL; refusal is 403
``access-denied`` ``Access denied: 'org/user' does not have authorization: WRITE_ALL_SERVICES service=org/id``,
and reading a non-public resource of another org that does not exist is 404 ``resource 'org/id' not found``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Literal

from horizon_publisher.sandbox.exchange.messages import ACCESS_DENIED, BAD_CREDS, ApiError, not_found
from horizon_publisher.sandbox.exchange.store import ExchangeStore

Role = Literal["SuperUser", "HubAdmin", "AdminUser", "User", "Node", "Agbot"]
Access = Literal["READ", "WRITE", "CREATE"]
TargetKind = Literal["service", "pattern", "business policy", "org", "user", "action"]

_USER_PART = re.compile(r"^([^ \t\n\x0b\f\r]*?)/([^ \t\n\x0b\f\r]*)$")  # Java's \S is ASCII-only
_TARGET_ORG = re.compile(r"^(\S+?)/.*", re.DOTALL)
_TARGET_ID = re.compile(r"^\S+?/(\S+)$")

_CROSS_ORG = frozenset(
    {
        "CREATE_ORGS",
        "DELETE_ORG",
        "READ_OTHER_ORGS",
        "WRITE_OTHER_ORGS",
        "CREATE_IN_OTHER_ORGS",
        "SET_IBM_ORG_TYPE",
        "ADMIN",
    }
)
# api.acls of reference.conf (only the entries this emulator's routes can ask for matter).
_ACLS: dict[str, frozenset[str]] = {
    "User": frozenset(
        {
            "CREATE_BUSINESS",
            "CREATE_PATTERNS",
            "CREATE_SERVICES",
            "READ_ALL_BUSINESS",
            "READ_ALL_PATTERNS",
            "READ_ALL_SERVICES",
            "READ_IBM_ORGS",
            "READ_MY_BUSINESS",
            "READ_MY_PATTERNS",
            "READ_MY_ORG",
            "READ_MY_SERVICES",
            "READ_MYSELF",
            "STATUS",
            "UTILITIES",
            "WRITE_MY_BUSINESS",
            "WRITE_MY_PATTERNS",
            "WRITE_MY_SERVICES",
            "WRITE_MYSELF",
        }
    ),
    "HubAdmin": frozenset(
        {
            "CREATE_IN_OTHER_ORGS",
            "CREATE_ORGS",
            "CREATE_USER",
            "DELETE_ORG",
            "ORGSTATUS",
            "READ_IBM_ORGS",
            "READ_MY_ORG",
            "READ_MY_USERS",
            "READ_MYSELF",
            "READ_OTHER_ORGS",
            "SET_IBM_ORG_TYPE",
            "STATUS",
            "UTILITIES",
            "WRITE_MY_ORG",
            "WRITE_MY_USERS",
            "WRITE_MYSELF",
            "WRITE_OTHER_ORGS",
        }
    ),
    "Node": frozenset(
        {"READ_ALL_BUSINESS", "READ_ALL_PATTERNS", "READ_ALL_SERVICES", "READ_MY_ORG", "READ_MYSELF", "WRITE_MYSELF"}
    ),
    "Agbot": frozenset(
        {"READ_ALL_BUSINESS", "READ_ALL_PATTERNS", "READ_ALL_SERVICES", "READ_MY_ORG", "READ_MYSELF", "WRITE_MYSELF"}
    ),
}
_PLURAL = {"service": "SERVICES", "pattern": "PATTERNS", "business policy": "BUSINESS"}


@dataclass(frozen=True)
class Identity:
    org: str
    username: str
    role: Role
    uuid: str | None = None  # users only: what ``owner`` columns hold

    @property
    def resource(self) -> str:
        return f"{self.org}/{self.username}"

    @property
    def is_super_user(self) -> bool:
        return self.role == "SuperUser" and self.resource == "root/root"

    @property
    def is_hub_admin(self) -> bool:
        return self.role == "HubAdmin" and self.org == "root"

    @property
    def is_org_admin(self) -> bool:
        return self.role == "AdminUser"

    @property
    def is_standard_user(self) -> bool:
        return self.role == "User"

    @property
    def is_node(self) -> bool:
        return self.role == "Node"

    @property
    def is_agbot(self) -> bool:
        return self.role == "Agbot"

    @property
    def is_multitenant_agbot(self) -> bool:
        return self.role == "Agbot" and self.org == "IBM"

    @property
    def is_user(self) -> bool:
        return self.role in ("SuperUser", "HubAdmin", "AdminUser", "User")


def _unauthorized(msg: str = "invalid.credentials") -> ApiError:
    return ApiError(401, BAD_CREDS, msg)


def decode_basic(header: str | None) -> tuple[str, str] | None:
    """(user part, secret) of a Basic header as pekko parses it, or None when it is not usable Basic."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, secret = decoded.partition(":")  # no colon: the whole string is the user, the secret is empty
    return user, secret


def authenticate(header: str | None, store: ExchangeStore, *, accept_iamapikey: bool = True) -> Identity:
    """The caller's identity, or :class:`ApiError` 401."""
    credentials = decode_basic(header)
    if credentials is None:
        raise _unauthorized()
    user_part, secret = credentials
    match = _USER_PART.match(user_part)
    if match is None:
        raise _unauthorized()
    org, name = match.group(1), match.group(2)
    if name == "apikey" or (name == "iamapikey" and accept_iamapikey):
        owner = store.user_for_api_key(org, secret)
        if owner is None:
            raise _unauthorized()
        return _user_identity(store, org, owner)
    for table, role in (("nodes", "Node"), ("agbots", "Agbot")):
        device = store.collection(table).get(f"{org}/{name}")
        if device is not None:
            if not store.check_secret(device["tokenHash"], secret):
                raise _unauthorized()
            return Identity(org, name, role)  # type: ignore[arg-type]
    user = store.user(org, name)
    if user is None:
        raise _unauthorized("unauthorized")  # minBy on an empty identity list -> UnsupportedOperationException
    if not store.check_secret(user["passwordHash"], secret):
        raise _unauthorized()
    return _user_identity(store, org, name)


def _user_identity(store: ExchangeStore, org: str, username: str) -> Identity:
    user = store.user(org, username)
    assert user is not None
    role: Role
    if user["hubAdmin"] and user["admin"]:
        role = "SuperUser"
    elif user["hubAdmin"]:
        role = "HubAdmin"
    elif user["admin"]:
        role = "AdminUser"
    else:
        role = "User"
    return Identity(org, username, role, uuid=user["uuid"])


@dataclass(frozen=True)
class Target:
    """What a request acts on: ``id`` is ``org/x``, ``org/*`` (a list) or ``org/`` (a create)."""

    kind: TargetKind
    id: str
    owner: str | None = None  # owning user's UUID; None when the resource does not exist
    public: bool = False

    @property
    def org(self) -> str:
        match = _TARGET_ORG.match(self.id)
        return match.group(1) if match else ""

    @property
    def bare_id(self) -> str:
        match = _TARGET_ID.match(self.id)
        return match.group(1) if match else ""

    @property
    def is_all(self) -> bool:
        return self.bare_id == "*"

    @property
    def is_public(self) -> bool:
        if self.kind in ("service", "pattern"):
            return self.is_all or self.public
        return False  # business policies are never public

    @property
    def is_there(self) -> bool:
        return self.kind in ("org", "action") or self.is_all or self.owner is not None


def has_authorization(role: Role, access: str) -> bool:
    if role == "SuperUser":
        return True
    if role == "AdminUser":
        return access not in _CROSS_ORG
    return access in _ACLS[role]


def _owns(identity: Identity, target: Target) -> bool:
    if target.is_all:
        return False
    return target.owner is None or target.owner == identity.uuid


_IN_SCOPE = {
    "org": {"READ": "READ_MY_ORG", "WRITE": "WRITE_MY_ORG", "CREATE": "CREATE_ORGS"},
    "user": {"READ": "READ_ALL_USERS", "WRITE": "WRITE_ALL_USERS", "CREATE": "CREATE_USER"},
}
_HUB_ADMIN_ELSEWHERE = {
    "org": {"READ": "READ_OTHER_ORGS", "WRITE": "WRITE_OTHER_ORGS", "CREATE": "CREATE_ORGS"},
    "user": {"READ": "READ_MY_USERS", "WRITE": "WRITE_MY_USERS", "CREATE": "CREATE_USER"},
}
_OTHER_ORG = {"READ": "READ_OTHER_ORGS", "WRITE": "WRITE_OTHER_ORGS", "CREATE": "CREATE_IN_OTHER_ORGS"}


def _in_scope_access(identity: Identity, target: Target, access: str) -> str:
    if target.kind in _PLURAL:
        plural = _PLURAL[target.kind]
        if access == "CREATE":
            return f"CREATE_{plural}"
        scope = "MY" if identity.is_user and _owns(identity, target) else "ALL"
        return f"{access}_{scope}_{plural}"
    if target.kind == "user" and target.id == identity.resource and access != "CREATE":
        return f"{access}_MYSELF"
    return _IN_SCOPE.get(target.kind, {}).get(access, access)


def required_access(identity: Identity, target: Target, access: str) -> str:
    """The specific access the server asks for (``NOT_FOUND`` for reading an absent resource of another org)."""
    in_scope = identity.org == target.org or target.is_public or identity.is_multitenant_agbot
    if target.kind == "action":
        needed = access
    elif in_scope:
        needed = _in_scope_access(identity, target, access)
    elif identity.is_hub_admin:
        needed = _HUB_ADMIN_ELSEWHERE.get(target.kind, {}).get(access, access)
    elif not target.is_there and access == "READ":
        needed = "NOT_FOUND"
    else:
        needed = _OTHER_ORG[access]
    return needed


def authorize(identity: Identity, target: Target, access: str) -> None:
    """Raise the 403 (or 404) the server answers when ``identity`` may not do ``access`` on ``target``."""
    needed = required_access(identity, target, access)
    if needed == "NOT_FOUND":
        raise not_found(f"resource '{target.id}' not found")
    if not has_authorization(identity.role, needed):
        raise ApiError(
            403,
            ACCESS_DENIED,
            f"Access denied: '{identity.resource}' does not have authorization: {needed} {target.kind}={target.id}",
        )
