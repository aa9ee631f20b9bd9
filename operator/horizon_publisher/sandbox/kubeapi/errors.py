"""Constructors for the ``Status`` errors the real API server answers, with its exact messages."""

from __future__ import annotations

from .api import JSON, ApiError, ResourceType


def qualified(resource: ResourceType) -> str:
    """``secrets`` or ``widgets.example.com``: how messages name a resource."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


def _details(resource: ResourceType, name: str | None) -> JSON:
    details: JSON = {"group": resource.group, "kind": resource.plural}
    if name:
        details["name"] = name
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource)} "{name}" not found', _details(resource, name))


def namespace_not_found(namespace: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})


def already_exists(resource: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource)} "{name}" already exists', _details(resource, name))


def conflict(resource: ResourceType, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    message = f'Operation cannot be fulfilled on {qualified(resource)} "{name}": {why}'
    return ApiError(409, "Conflict", message, _details(resource, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(resource: ResourceType, name: str | None, why: str, causes: list[JSON] | None = None) -> ApiError:
    subject = f'{qualified(resource)} "{name}"' if name else qualified(resource)
    details = _details(resource, name)
    if causes:
        details["causes"] = causes
    return ApiError(403, "Forbidden", f"{subject} is forbidden: {why}", details)


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    message = f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}"
    del content_type  # the real message does not echo it
    return ApiError(415, "UnsupportedMediaType", message)


def not_acceptable() -> ApiError:
    return ApiError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml",
    )


def expired(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def field_error(field: str, message: str, reason: str = "FieldValueInvalid") -> JSON:
    """One ``causes`` entry; ``message`` is the error body, without the field path (as the real one)."""
    return {"reason": reason, "message": message, "field": field}


def invalid(group: str, kind: str, name: str, causes: list[JSON]) -> ApiError:
    """422 Invalid, worded like ``Secret "x" is invalid: data[a b]: Invalid value: ...``."""
    qualified_kind = f"{kind}.{group}" if group else kind
    texts: list[str] = []
    for cause in causes:
        text = f"{cause['field']}: {cause['message']}" if cause.get("field") else cause["message"]
        if text not in texts:
            texts.append(text)
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: JSON = {"name": name, "group": group, "kind": kind, "causes": causes}
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def invalid_value(value: object, why: str) -> str:
    """The ``Invalid value: "x": why`` fragment, with Go's quoting of strings."""
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    return f"Invalid value: {shown}: {why}"
