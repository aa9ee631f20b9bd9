"""Bounded label values for request metrics: a path or URL in, a name from a fixed vocabulary out (pure).

Every literal a function here returns comes from the tables below; whatever a caller names (an org, a
service id, a dockauth number, a digest, an upload session, a query string, user info) becomes a
placeholder or is dropped. So the label sets stay small, and no id or credential ever reaches a label.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Exchange collections: the segment after one of these is an id, shown as the placeholder.
EXCHANGE_COLLECTIONS: dict[str, str] = {
    "orgs": "{org}",
    "services": "{service}",
    "keys": "{key}",
    "dockauths": "{id}",
    "patterns": "{pattern}",
    "policies": "{policy}",
    "nodes": "{node}",
    "agbots": "{agbot}",
    "users": "{user}",
    "agreements": "{agreement}",
}
# Exchange path words that are never followed by an id (``/admin/version``, ``/business/policies``, ...).
EXCHANGE_WORDS = frozenset(
    {"admin", "version", "status", "business", "deployment", "policy", "search", "changes", "heartbeat"}
)
UNKNOWN_SEGMENT = "{other}"

_MANIFEST = {"HEAD": "manifest_head", "GET": "manifest_get", "PUT": "manifest_put", "DELETE": "manifest_delete"}
_BLOB = {"HEAD": "blob_head", "GET": "blob_get", "DELETE": "blob_delete"}
_UPLOAD_SESSION = {"PATCH": "upload_chunk", "PUT": "upload_finish", "GET": "upload_status", "DELETE": "upload_cancel"}
REGISTRY_OPERATIONS = frozenset(
    {
        *_MANIFEST.values(),
        *_BLOB.values(),
        *_UPLOAD_SESSION.values(),
        "upload_start",
        "mount",
        "tags_list",
        "ping",
        "token",
        "other",
    }
)

# IBM Cloud calls by (method, path template), named after the ibmcloud CLI commands they stand for.
_IBMCLOUD_APIS = {
    ("POST", "/identity/token"): "iam_token",
    ("PUT", "/api/v1/namespaces/{namespace}"): "namespace_add",
    ("GET", "/api/v1/namespaces"): "namespace_list",
    ("GET", "/api/v1/images"): "image_list",
}
IBMCLOUD_APIS = frozenset({*_IBMCLOUD_APIS.values(), "other"})


def exchange_template(path: str) -> str:
    """``/orgs/myorg/services/svc_1.0.0_amd64/dockauths/7?x=1`` -> ``/orgs/{org}/services/{service}/dockauths/{id}``.

    ``path`` is relative to the Exchange base URL (``/v1`` excluded). The segment after a collection is
    always a placeholder, even when it happens to spell a known word (an org called ``services``).
    """
    segments = _path_only(path).strip("/").split("/")
    template: list[str] = []
    placeholder: str | None = None
    for segment in segments:
        if not segment:
            continue
        if placeholder is not None:
            template.append(placeholder)
            placeholder = None
        elif segment in EXCHANGE_COLLECTIONS:
            template.append(segment)
            placeholder = EXCHANGE_COLLECTIONS[segment]
        elif segment in EXCHANGE_WORDS:
            template.append(segment)
        else:
            template.append(UNKNOWN_SEGMENT)
    return "/" + "/".join(template)


def registry_operation(method: str, url: str) -> str:
    """What one distribution-API request does, from its method and URL (absolute or a path).

    Decided from the last segments only, so a repository name (which may contain ``manifests`` or
    ``blobs`` as a component) cannot mislead it; an upload ``POST`` with ``mount=`` is a mount attempt.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    tail = path.split("/")[-3:]
    table: dict[str, str]
    if path == "/v2":
        table = {"GET": "ping"}
    elif tail[-2:] == ["blobs", "uploads"]:
        mounting = any(item.partition("=")[0] == "mount" for item in parts.query.split("&"))
        table = {"POST": "mount" if mounting else "upload_start"}
    elif tail[:2] == ["blobs", "uploads"]:
        table = _UPLOAD_SESSION
    elif tail[-2:-1] == ["blobs"]:
        table = _BLOB
    elif tail[-2:-1] == ["manifests"]:
        table = _MANIFEST
    elif tail[-2:] == ["tags", "list"]:
        table = {"GET": "tags_list"}
    else:
        table = {}
    return table.get(method.upper(), "other")


def ibmcloud_api(method: str, path: str) -> str:
    """``PUT /api/v1/namespaces/team-a`` -> ``namespace_add``; anything not in the table -> ``other``."""
    segments = _path_only(path).rstrip("/").split("/")
    if segments[:-1] == ["", "api", "v1", "namespaces"] and method.upper() == "PUT":
        segments[-1] = "{namespace}"
    return _IBMCLOUD_APIS.get((method.upper(), "/".join(segments)), "other")


def _path_only(path: str) -> str:
    """The path without query or fragment (not urlsplit: a path starting ``//`` is no host name here)."""
    return path.partition("?")[0].partition("#")[0]
