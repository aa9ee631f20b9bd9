"""The horizon/ folder that ``hzn dev service new`` writes, read as hzn reads it (pure, no I/O).

hzn (open-horizon/anax ``cliutils.ReadJsonFile``, ``cliconfig``) reads service.definition.json by
removing ``/* ... */`` comments, then expanding variables over the raw text with Go's ``os.Expand``
(``$NAME``, ``${NAME}``, the one-character shell specials ``$1`` ``$$`` ``$*``..., ``${}`` and an
unclosed ``${`` are eaten, a ``$`` before any other character stays), and only then parsing JSON.
There is no escape: ``HZN_DONT_SUBST_ENV_VARS=1`` turns expansion off altogether. Variables come
from the environment, which hzn fills from hzn.json (MetadataVars, then its known HZN_* keys, which
win) without overriding variables already set; ARCH defaults to the CLI's own GOARCH.

Here ``overrides`` (spec.service.horizonFilesRef.variables) and ``org`` (spec.exchange.org, as
HZN_ORG_ID) play the environment, so they win over hzn.json. ARCH is kept as written until
``for_arch`` expands the text again for each published architecture.

Deliberate differences from hzn: a variable without a value is an error (hzn warns and substitutes
""); a top-level hzn.json key set to "" counts as unset, a MetadataVars entry set to "" as a value;
a deployment given as a string (hzn's pre-signed form) is parsed and re-signed; clusterDeployment
is refused; all-empty userInput entries (the --noImageGen template) are dropped.
"""

from __future__ import annotations

import copy
import json
import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

KNOWN_ARCHES = ("amd64", "arm64", "arm", "ppc64le", "s390x", "riscv64")
SHARABLE_VALUES = ("exclusive", "single", "singleton", "multiple")
USER_INPUT_TYPES = ("string", "int", "float", "boolean", "list of strings")
NOT_FOUND = "HorizonFilesNotFound"
INVALID = "InvalidServiceDefinition"
ARCH = "ARCH"
NO_SUBSTITUTION = "HZN_DONT_SUBST_ENV_VARS"
# cliconfig.HorizonCliConfig: the only top-level hzn.json keys that become variables.
HZN_JSON_KEYS = (
    "HZN_EXCHANGE_USER_AUTH", "HZN_EXCHANGE_NODE_AUTH", "HZN_ORG_ID", "HZN_LANG", "HORIZON_URL",
    "HZN_EXCHANGE_URL", "HZN_HTTP_RETRIES", "HZN_HTTP_RETRY_INTERVAL", "HZN_FSS_CSSURL", "HZN_AGBOT_URL",
    "HZN_PRIVATE_KEY_FILE", "HZN_PUBLIC_KEY_FILE", "HZN_DEVICE_ID", "HZN_NODE_ID", "HZN_PATTERN",
    "HZN_DEV_FSS_IMAGE_REPO", "HZN_DEV_FSS_IMAGE_TAG", "HZN_DEV_FSS_CSS_PORT", "HZN_DEV_FSS_MONGO_IMAGE",
    "HZN_DEV_FSS_WORKING_DIR", "HZN_REGISTER_HTTP_TIMEOUT",
)  # fmt: skip
_STRINGS = ("org", "label", "description", "documentation", "url", "version", "arch", "sharable")
_FILE_FIELDS = (*_STRINGS, "public", "matchHardware", "requiredServices", "userInput", "deployment",
                "deploymentSignature", "clusterDeployment", "clusterDeploymentSignature")  # fmt: skip
_SHELL_SPECIALS = frozenset("*#$@!?-0123456789")
_NAME_CHARS = frozenset("_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,2}")
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
MAX_LISTED = 10  # variables named in one "variable without a value" message
# Messages land in a condition (at most 32768 bytes) and quote the files: a 1 MB file must not break the status.
MAX_MESSAGE = 4096


class HorizonFilesError(Exception):
    """``reason`` is the Signed condition's reason; ``message`` names the file and the problem."""

    def __init__(self, reason: str, message: str) -> None:
        if len(message) > MAX_MESSAGE:  # keep both ends: the file and field first, the rule broken last
            half = MAX_MESSAGE // 2 - 1
            message = f"{message[:half]}…{message[-half:]}"
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class UserInput:
    name: str
    label: str = ""
    type: str = ""
    default_value: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "type": self.type, "defaultValue": self.default_value}


@dataclass(frozen=True)
class RequiredService:
    url: str
    org: str = ""
    version: str = ""
    version_range: str = ""
    arch: str = ""

    def to_json(self) -> dict[str, str]:
        body = {"url": self.url, "org": self.org, "versionRange": self.version_range, "arch": self.arch}
        return {**body, "version": self.version} if self.version else body


@dataclass(frozen=True)
class _Source:
    """What for_arch needs to expand the file again with another ARCH."""

    key: str
    original: str
    variables: Mapping[str, str]
    substitute: bool


@dataclass(frozen=True)
class _Recipe:
    """How a definition was made, so for_arch can make it again for one architecture."""

    source: _Source | None
    base: ServiceDefinition | None = None  # before merge_with_spec (inline mode)
    spec: Mapping[str, Any] | None = None
    org: str | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    org: str
    url: str
    version: str
    arch: str  # may still read "$ARCH" (see arch_varies) until for_arch
    label: str
    description: str
    documentation: str
    public: bool
    sharable: str
    match_hardware: dict[str, Any]
    required_services: tuple[RequiredService, ...]
    user_input: tuple[UserInput, ...]
    deployment: dict[str, Any]
    variables_used: tuple[str, ...] = ()
    _recipe: _Recipe | None = field(default=None, repr=False, compare=False)

    @property
    def arch_varies(self) -> bool:
        """True while ARCH is referenced and not yet expanded: one service per architecture."""
        source = self._recipe.source if self._recipe else None
        return (
            source is not None and source.substitute and ARCH in self.variables_used and self.arch not in KNOWN_ARCHES
        )

    def service_fields(self) -> dict[str, Any]:
        """The spec.service-shaped mapping desired.exchange_bodies.service_body takes."""
        return {
            "label": self.label,
            "description": self.description,
            "documentation": self.documentation,
            "public": self.public,
            "url": self.url,
            "version": self.version,
            "sharable": self.sharable,
            "matchHardware": dict(self.match_hardware),
            "requiredServices": [r.to_json() for r in self.required_services],
            "userInput": [u.to_json() for u in self.user_input],
            "deployment": self.deployment,
        }


def _fail(key: str, problem: str, reason: str = INVALID) -> HorizonFilesError:
    return HorizonFilesError(reason, f"{key}: {problem}")


# ---- text: comments, variables, positions ---------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """A run of output text: copied from input offset ``start``, or the value of reference ``name`` there."""

    out: int
    start: int
    name: str | None


def _strip_comments(text: str) -> tuple[str, list[_Piece]]:
    kept: list[str] = []
    pieces: list[_Piece] = []
    out = last = 0
    for match in _COMMENT.finditer(text):
        pieces.append(_Piece(out, last, None))
        kept.append(text[last : match.start()])
        out += match.start() - last
        last = match.end()
    pieces.append(_Piece(out, last, None))
    kept.append(text[last:])
    return "".join(kept), pieces


def _origin(pieces: Sequence[_Piece], pos: int) -> tuple[int, str | None]:
    if not pieces:
        return pos, None
    piece = pieces[max(bisect_right([p.out for p in pieces], pos) - 1, 0)]
    return (piece.start + pos - piece.out, None) if piece.name is None else (piece.start, piece.name)


def _line_column(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    return f"line {text.count(chr(10), 0, pos) + 1}, column {pos - line_start + 1}"


def _shell_name(text: str, start: int, next_brace: list[int]) -> tuple[str, int]:
    """Go os.getShellName on text[start:]: the name and how many characters it takes."""
    first = text[start]
    if first == "{":
        if start + 2 < len(text) and text[start + 1] in _SHELL_SPECIALS and text[start + 2] == "}":
            return text[start + 1], 3
        if next_brace[0] < start + 1:  # memo: scanning starts only move forward, so this stays linear
            found = text.find("}", start + 1)
            next_brace[0] = found if found >= 0 else len(text)
        close = next_brace[0]
        if close >= len(text):
            return "", 1  # unclosed "${": eaten
        if close == start + 1:
            return "", 2  # "${}": eaten
        return text[start + 1 : close], close - start + 1
    if first in _SHELL_SPECIALS:
        return first, 1
    end = start
    while end < len(text) and text[end] in _NAME_CHARS:
        end += 1
    return text[start:end], end - start


def _expand(
    text: str, variables: Mapping[str, str], deferred: Collection[str]
) -> tuple[str, list[_Piece], list[tuple[str, int]], set[str]]:
    """os.Expand over text; returns output, pieces, unresolved (name, offset) and names used."""
    out: list[str] = []
    pieces: list[_Piece] = []
    missing: list[tuple[str, int]] = []
    used: set[str] = set()
    length = literal = j = 0
    next_brace = [-1]

    def emit(chunk: str, start: int, name: str | None) -> None:
        nonlocal length
        if chunk:
            pieces.append(_Piece(length, start, name))
            out.append(chunk)
            length += len(chunk)

    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            emit(text[literal:j], literal, None)
            name, width = _shell_name(text, j + 1, next_brace)
            if name and name in deferred:
                used.add(name)
                emit(text[j : j + 1 + width], j, None)  # kept as written, for a later pass
            elif name:
                used.add(name)
                if name not in variables:
                    missing.append((name, j))
                emit(variables.get(name, ""), j, name)
            elif width == 0:
                emit("$", j, None)
            j += width
            literal = j + 1
        j += 1
    emit(text[literal:], literal, None)
    return "".join(out), pieces, missing, used


def substitute(text: str, variables: Mapping[str, str], *, key: str = "text", deferred: Collection[str] = ()) -> str:
    """Expand $NAME / ${NAME} as hzn does; a reference without a value raises, naming it."""
    expanded, _pieces, missing, _used = _expand(text, variables, deferred)
    if missing:
        raise _missing_error(key, text, missing, [_Piece(0, 0, None)])
    return expanded


def _missing_error(
    key: str, original: str, missing: list[tuple[str, int]], comments: Sequence[_Piece]
) -> HorizonFilesError:
    where: dict[str, str] = {}
    for name, pos in missing:
        if name not in where and len(where) < MAX_LISTED:
            where[name] = _line_column(original, _origin(comments, pos)[0])
    others = len({name for name, _ in missing}) - len(where)
    listed = "; ".join(f'"{n}" at {w}' for n, w in where.items())
    listed += f" and {others} more" if others else ""
    return _fail(
        key,
        f"variable without a value: {listed}. Set it in hzn.json MetadataVars or "
        f"spec.service.horizonFilesRef.variables (hzn has no escape for a literal $)",
    )


# ---- JSON, decoded as Go's encoding/json decodes it into anax's structs ------------------------


def _json_type(value: Any) -> str:
    names = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "an array"}
    names[dict] = "an object"
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(key: str, text: str, locate: Callable[[int], str] | None = None) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        where = locate(error.pos) if locate else _line_column(text, error.pos)
        raise _fail(key, f"invalid JSON at {where}: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise _fail(key, f"invalid JSON: {error}") from None


def _go_fields(obj: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """Keys matched to struct fields as Go does: exactly, else case-insensitively; unknown keys ignored."""
    folded = {n.casefold(): n for n in names}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        name = key if key in names else folded.get(key.casefold())
        if name is not None:
            found[name] = value
    return found


def _string(key: str, where: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(key, f'"{where}" must be a string, not {_json_type(value)}')
    return value


def _objects(key: str, where: str, value: Any, names: Sequence[str]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _fail(key, f'"{where}" must be an array of objects')
    return [
        {n: _string(key, f"{where}[{i}].{n}", v) for n, v in _go_fields(item, names).items()}
        for i, item in enumerate(value)
    ]


def _user_inputs(key: str, value: Any) -> tuple[UserInput, ...]:
    entries = _objects(key, "userInput", value, ("name", "label", "type", "defaultValue"))
    inputs: list[UserInput] = []
    for i, e in enumerate(entries):
        item = UserInput(e.get("name", ""), e.get("label", ""), e.get("type", ""), e.get("defaultValue", ""))
        if item == UserInput(""):
            continue  # the --noImageGen template's placeholder entry
        if not item.name or item.type not in USER_INPUT_TYPES:
            raise _fail(key, f"userInput[{i}] needs a name and a type among {', '.join(USER_INPUT_TYPES)}")
        inputs.append(item)
    return tuple(inputs)


def _required_services(key: str, value: Any) -> tuple[RequiredService, ...]:
    entries = _objects(key, "requiredServices", value, ("url", "org", "version", "versionRange", "arch"))
    services = []
    for i, e in enumerate(entries):
        version, version_range = e.get("version", ""), e.get("versionRange", "")
        if not e.get("url") or not (version or version_range):
            raise _fail(key, f"requiredServices[{i}] needs a url and a version or versionRange")
        # hzn's SupportVersionRange: a bare version is the range "version and later".
        services.append(
            RequiredService(e["url"], e.get("org", ""), version, version_range or version, e.get("arch", ""))
        )
    return tuple(services)


def _deployment(key: str, value: Any, cluster: Any) -> dict[str, Any]:
    if cluster not in (None, "", {}):
        raise _fail(key, "clusterDeployment (edge-cluster operator services) is not supported; use deployment")
    if isinstance(value, str) and value:
        value = _parse_json(f"{key} (deployment string)", value)  # hzn's pre-signed form; we sign again
    if value in (None, "", {}):
        raise _fail(key, "has no deployment")
    if not isinstance(value, dict):
        raise _fail(key, "'deployment' must be either a json object or a string (for pre-signed)")
    services = value.get("services")
    if not isinstance(services, dict) or not all(isinstance(s, dict) for s in services.values()):
        raise _fail(key, '"deployment.services" must be an object of containers, each a JSON object')
    return value


def _definition(key: str, document: Any, used: set[str], recipe: _Recipe) -> ServiceDefinition:
    if not isinstance(document, dict):
        raise _fail(key, f"must be a JSON object, not {_json_type(document)}")
    found = _go_fields(document, _FILE_FIELDS)
    strings = {name: _string(key, name, found.get(name)) for name in _STRINGS}
    public, hardware = found.get("public"), found.get("matchHardware")
    if public is not None and not isinstance(public, bool):
        raise _fail(key, f'"public" must be true or false, not {_json_type(public)}')
    if hardware is not None and not isinstance(hardware, dict):
        raise _fail(key, f'"matchHardware" must be an object, not {_json_type(hardware)}')
    if strings["sharable"] and strings["sharable"] not in SHARABLE_VALUES:
        raise _fail(key, f'sharable "{strings["sharable"]}" is not one of {", ".join(SHARABLE_VALUES)}')
    return ServiceDefinition(
        org=strings["org"],
        url=strings["url"],
        version=strings["version"],
        arch=strings["arch"],
        label=strings["label"],
        description=strings["description"],
        documentation=strings["documentation"],
        public=bool(public),
        sharable=strings["sharable"],
        match_hardware=dict(hardware or {}),
        required_services=_required_services(key, found.get("requiredServices")),
        user_input=_user_inputs(key, found.get("userInput")),
        deployment=_deployment(key, found.get("deployment"), found.get("clusterDeployment")),
        variables_used=tuple(sorted(used)),
        _recipe=recipe,
    )


def _from_source(source: _Source, arch: str | None) -> ServiceDefinition:
    text, comments = _strip_comments(source.original)
    used: set[str] = set()
    pieces = [_Piece(0, 0, None)]
    if source.substitute:
        variables = {**source.variables, ARCH: arch} if arch else source.variables
        text, pieces, missing, used = _expand(text, variables, () if arch else (ARCH,))
        if missing:
            raise _missing_error(source.key, source.original, missing, comments)

    def locate(pos: int) -> str:
        in_stripped, name = _origin(pieces, pos)
        where = _line_column(source.original, _origin(comments, in_stripped)[0])
        return f"{where} (in the value of ${{{name}}})" if name else where

    document = _parse_json(source.key, text, locate)
    return _definition(source.key, document, used, _Recipe(source))


def _hzn_json_variables(key: str, text: str) -> dict[str, str]:
    """hzn.json as cliconfig reads it: MetadataVars first, known HZN_* keys (non-empty) over them."""
    document = _parse_json(key, _strip_comments(text)[0])
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise _fail(key, f"must be a JSON object, not {_json_type(document)}")
    found = _go_fields(document, (*HZN_JSON_KEYS, "MetadataVars"))
    metadata = found.pop("MetadataVars", None)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise _fail(key, f'"MetadataVars" must be an object, not {_json_type(metadata)}')
    variables = {str(name): _string(key, f"MetadataVars.{name}", value) for name, value in metadata.items()}
    variables.update((name, value) for name, value in found.items() if _string(key, name, value))
    return variables


# ---- public API ------------------------------------------------------------------------------------


def load_service_definition(
    files: Mapping[str, str],
    *,
    definition_key: str = "service.definition.json",
    hzn_json_key: str = "hzn.json",
    overrides: Mapping[str, str] | None = None,
    org: str | None = None,
) -> ServiceDefinition:
    """Parse the ConfigMap's files; precedence of variables: overrides > org (HZN_ORG_ID) > hzn.json."""
    if definition_key not in files:
        keys = ", ".join(sorted(files)) or "none"
        raise _fail(definition_key, f"not found in the ConfigMap (its keys: {keys})", NOT_FOUND)
    variables = _hzn_json_variables(hzn_json_key, files[hzn_json_key]) if hzn_json_key in files else {}
    variables.update({"HZN_ORG_ID": org} if org else {})
    variables.update(overrides or {})
    substitute_text = variables.get(NO_SUBSTITUTION) != "1"
    # ARCH is for_arch's to set: one service per architecture, as hzn run once with each ARCH.
    without_arch = {name: value for name, value in variables.items() if name != ARCH}
    return _from_source(_Source(definition_key, files[definition_key], without_arch, substitute_text), None)


def merge_with_spec(
    definition: ServiceDefinition, spec_service: Mapping[str, Any], *, org: str | None = None
) -> ServiceDefinition:
    """spec.service fields win over the file's, the file's over defaults; url and org must agree."""
    source = definition._recipe.source if definition._recipe else None
    key = source.key if source else "spec.service"
    url = str(spec_service.get("url") or definition.url)
    if not url:
        raise _fail(key, "has no url")
    if definition.url and definition.url != url:
        raise _fail(key, f'url "{definition.url}" does not match spec.service.url "{url}"')
    if org and definition.org and definition.org != org:
        raise _fail(key, f'org "{definition.org}" does not match spec.exchange.org "{org}"')
    version = str(spec_service.get("version") or definition.version)
    if not _VERSION.fullmatch(version):
        raise _fail(key, f'version "{version}" is not one the Exchange accepts (N, N.N or N.N.N)')
    documentation = str(spec_service.get("documentation") or definition.documentation)
    if documentation and not _URL_SCHEME.fullmatch(documentation):
        raise _fail(key, f'documentation "{documentation}" is not a URL (the Exchange refuses it)')
    arch = definition.arch
    label = str(spec_service.get("label") or definition.label or (f"{url} for {arch}" if arch else url))
    inputs, required = spec_service.get("userInput"), spec_service.get("requiredServices")
    return replace(
        definition,
        org=org or definition.org,
        url=url,
        version=version,
        label=label,
        description=str(spec_service.get("description") or definition.description or label),
        documentation=documentation,
        public=bool(spec_service.get("public", definition.public)),
        sharable=str(spec_service.get("sharable") or definition.sharable or "multiple"),
        user_input=definition.user_input if inputs is None else _user_inputs("spec.service", inputs),
        required_services=(
            definition.required_services if required is None else _required_services("spec.service", required)
        ),
        # A copy: callers pin images in it, and the spec is the kopf body.
        deployment=copy.deepcopy(dict(spec_service.get("deployment") or definition.deployment)),
        _recipe=_Recipe(source, definition, dict(spec_service), org),
    )


def definition_from_spec(spec_service: Mapping[str, Any], *, org: str) -> ServiceDefinition:
    """Inline mode (spec.service.deployment): the spec alone, with the same defaults."""
    deployment = _deployment("spec.service", spec_service.get("deployment"), None)
    empty = ServiceDefinition(org, "", "", "", "", "", "", False, "", {}, (), (), deployment)
    return merge_with_spec(empty, spec_service, org=org)


def for_arch(definition: ServiceDefinition, arch: str) -> ServiceDefinition:
    """The definition hzn would publish with ARCH=arch (one Exchange service per architecture)."""
    if arch not in KNOWN_ARCHES:
        raise _fail("arch", f'"{arch}" is not a known architecture ({", ".join(KNOWN_ARCHES)})')
    recipe = definition._recipe or _Recipe(None, definition)
    key = recipe.source.key if recipe.source else "spec.service"
    # The whole text is expanded again with ARCH set, exactly as a second hzn run would.
    base = _from_source(recipe.source, arch) if recipe.source else (recipe.base or definition)
    if base.arch and base.arch != arch:
        raise _fail(key, f'arch is "{base.arch}", so this definition cannot be published for {arch}')
    base = replace(base, arch=arch)
    if recipe.spec is not None:
        base = merge_with_spec(base, recipe.spec, org=recipe.org)
    required = []
    for service in base.required_services:
        if service.arch and service.arch != arch:
            raise _fail(key, f'required service "{service.url}" has arch "{service.arch}", not {arch}')
        required.append(replace(service, arch=arch, org=service.org or base.org))
    # The recipe stays the unexpanded one, so this result can be asked for another arch too.
    return replace(base, required_services=tuple(required), _recipe=recipe)
