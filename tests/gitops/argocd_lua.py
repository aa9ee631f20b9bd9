"""Run an Argo CD health.lua the way Argo CD does, in a real Lua interpreter (lupa).

What is emulated (argo-cd ``util/lua/lua.go``, ``VM.runLua`` + ``ExecuteHealthLua``):

- a fresh interpreter per evaluation, with only the libraries Argo CD opens for argocd-cm scripts
  (``UseOpenLibs`` false): base, package and table, plus a "safe" ``os`` holding ``time`` and ``date``.
  No ``string``, ``math``, ``io``, ``debug``, ``coroutine``: calling them fails here as it fails there, and
  strings have no methods (``s:find`` needs the string library's metatable);
- the object as the global ``obj``, converted like ``decodeValue``: mappings become tables with string
  keys, lists 1-based sequences, ``null`` is absent (also inside lists, where ``Append(LNil)`` adds nothing),
  integral numbers print without ".0" (``"gen " .. 2.0`` is "gen 2" in gopher-lua);
- the script's last returned value must be a table, read like ``luajson.Encode`` then ``json.Unmarshal``
  into ``HealthStatus``: an empty or array-like table is an error, ``status`` and ``message`` must be
  strings (Go matches the keys case-insensitively), and a status outside Healthy, Progressing, Degraded,
  Suspended, Missing, Unknown becomes ``Unknown`` / "Lua returned an invalid health status";
- the one-second context deadline, as an instruction budget (a runaway loop fails instead of hanging).

The YAML of a test case is read like ``sigs.k8s.io/yaml`` reads it: timestamps stay strings.

Gaps:
- Argo CD embeds gopher-lua, a Go implementation of Lua 5.1; this runs the C Lua 5.1 and 5.4 that lupa
  bundles. gopher-lua numbers are always float64 and print integral values without ".0", like Lua 5.1 for
  values below 1e14 (Lua 5.1 switches to exponent notation above that; gopher-lua prints all digits).
- The instruction budget approximates a wall-clock deadline.
- Mixed tables (array and hash parts) are reported as errors without gopher-json's exact message; other
  keys of the returned table are ignored as json.Unmarshal ignores them, but a non-string value under a
  key that is not status/message is not checked for encodability.
- gitops-engine's wrapper around the script (a deleting object is "Progressing"/"Pending deletion"
  before any script runs) is not part of ``ExecuteHealthLua`` and is not emulated, as in Argo CD's own
  health_test.yaml runner.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VALID_STATUSES = ("Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown")
INVALID_HEALTH_STATUS = "Lua returned an invalid health status"
DIALECTS = ("lua51", "lua54")  # gopher-lua implements 5.1; 5.4 catches scripts that rely on 5.1 quirks
INSTRUCTION_BUDGET = 5_000_000

# Runs before the script: drop what gopher-lua does not open for argocd-cm scripts, keep a safe os,
# take string methods away, and arm the deadline. `debug` goes last: it is needed to do the rest.
_SANDBOX = """
local safe_os = {time = os.time, date = os.date}
local string_metatable = debug.getmetatable("")
if string_metatable ~= nil then string_metatable.__index = nil end
debug.sethook(function() error("the script ran past its time budget", 2) end, "", BUDGET)
string, math, io, coroutine, utf8, bit32, python, jit, ffi = nil, nil, nil, nil, nil, nil, nil, nil, nil
os = safe_os
package.loaded.string, package.loaded.math, package.loaded.io = nil, nil, nil
package.loaded.coroutine, package.loaded.os, package.loaded.debug = nil, safe_os, nil
debug = nil
""".replace("BUDGET", str(INSTRUCTION_BUDGET))


class LuaScriptError(Exception):
    """The script failed, or returned something Argo CD cannot read (Argo CD then reports an error)."""


@dataclass(frozen=True)
class HealthStatus:
    status: str
    message: str = ""


class _TimestampsAsStrings(yaml.SafeLoader):
    """sigs.k8s.io/yaml goes through JSON, where an unquoted timestamp is just a string."""


_TimestampsAsStrings.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_object(path: Path) -> dict[str, Any]:
    loaded = yaml.load(path.read_text(), Loader=_TimestampsAsStrings)  # noqa: S506 (a SafeLoader subclass)
    assert isinstance(loaded, dict), f"{path}: not a mapping"
    return loaded


def _runtime(dialect: str) -> Any:
    module = importlib.import_module(f"lupa.{dialect}")
    runtime = module.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=False)
    runtime.execute(_SANDBOX)
    return runtime


def _to_lua(runtime: Any, value: Any) -> Any:
    if isinstance(value, Mapping):
        table = runtime.table()
        for key, item in value.items():
            if item is not None:
                table[str(key)] = _to_lua(runtime, item)
        return table
    if isinstance(value, list):
        table = runtime.table()
        index = 1
        for item in value:
            if item is not None:
                table[index] = _to_lua(runtime, item)
                index += 1
        return table
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return float(value)  # float64, as every number is in gopher-lua
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # gopher-lua numbers are float64 printed without ".0" when integral; Lua 5.4 needs an integer for that.
        return int(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _field(result: Mapping[Any, Any], name: str) -> str:
    """A string field of the returned table, matched like encoding/json matches struct fields."""
    values = [value for key, value in result.items() if isinstance(key, str) and key.lower() == name]
    if not values:
        return ""
    if not isinstance(values[0], str):
        raise LuaScriptError(f"json: cannot unmarshal {type(values[0]).__name__} into HealthStatus.{name}")
    return values[0]


def run_health(script: str, obj: Mapping[str, Any], dialect: str = "lua51") -> HealthStatus:
    """Evaluate ``script`` for ``obj`` as Argo CD's ExecuteHealthLua does."""
    runtime = _runtime(dialect)
    lua_error = importlib.import_module(f"lupa.{dialect}").LuaError
    runtime.globals().obj = _to_lua(runtime, obj)
    try:
        returned = runtime.execute(script)
    except lua_error as error:
        raise LuaScriptError(str(error)) from None
    if runtime.eval("type")(returned) != "table":
        raise LuaScriptError(f"expect table output from Lua script, not {runtime.eval('type')(returned)}")
    result = dict(returned.items())
    if not result or not all(isinstance(key, str) for key in result):
        # luajson encodes these as JSON arrays (or fails): json.Unmarshal into a struct then fails.
        raise LuaScriptError("json: cannot unmarshal array into Go value of type health.HealthStatus")
    status = _field(result, "status")
    message = _field(result, "message")
    if status not in VALID_STATUSES:
        return HealthStatus("Unknown", INVALID_HEALTH_STATUS)
    return HealthStatus(status, message)
