"""The Exchange emulator as a sandbox process: ``main(state_dir)`` serves until SIGTERM/SIGINT.

Files (``STATE_DIR`` = the sandbox state directory):

- ``STATE_DIR/exchange/seed.json`` (read): ``{"org", "user", "password", "apikey"?, "rootPassword"?,
  "certFile"?, "keyFile"?, "acceptIamapikey"?}``. On a start where they are missing, creates ``org``, the
  org admin ``org/user`` with ``password``, the Exchange API key ``apikey`` of that user, and ``root/root``
  with ``rootPassword``; existing entries are left alone. ``certFile``/``keyFile`` (absolute, or relative to
  STATE_DIR) switch on HTTPS; without them it serves plain HTTP. ``acceptIamapikey`` (default true) takes
  ``org/iamapikey:KEY`` as IEAM does; false answers 401 as open-source Exchange 2.154.0. ``limits``
  (optional): ``{"maxServices", "maxPatterns", "maxBusinessPolicies"}`` per owner as ``api.limits`` of
  reference.conf (defaults 1000, 1000, 5000; 0 = unlimited).
- ``STATE_DIR/exchange/state.json`` (written atomically at most every 0.5 s and on a clean stop, mode 0600,
  reloaded on start).
- ``STATE_DIR/exchange.ready.json`` = ``{"port": N, "pid": PID}`` once listening on 127.0.0.1 (ephemeral
  port); removed on a clean stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from horizon_publisher.sandbox.exchange.app import create_exchange_app
from horizon_publisher.sandbox.exchange.store import ExchangeStore, Limits
from horizon_publisher.sandbox.serving import serve_until_signalled
from horizon_publisher.sandbox.tls_server import server_ssl_context, start_app

_LOG = logging.getLogger(__name__)


def load_seed(path: Path) -> dict[str, Any]:
    seed = json.loads(path.read_text())
    if not isinstance(seed, dict):
        raise ValueError(f"{path}: expected a JSON object")
    for name in ("org", "user", "password"):
        if not isinstance(seed.get(name), str) or not seed[name]:
            raise ValueError(f"{path}: {name!r} must be a non-empty string")
    return seed


def apply_seed(store: ExchangeStore, seed: dict[str, Any]) -> None:
    """Create what the seed names and the store lacks (idempotent across restarts)."""
    org, user = seed["org"], seed["user"]
    store.add_org(org)
    if store.user(org, user) is None:
        store.add_user(org, user, seed["password"], admin=True)
        _LOG.info("seeded org admin %s/%s", org, user)
    apikey = seed.get("apikey")
    if apikey and store.user_for_api_key(org, apikey) is None:
        store.add_api_key(org, user, apikey, description="sandbox seed", label="sandbox")
    root_password = seed.get("rootPassword")
    if root_password and store.user("root", "root") is None:
        store.set_root_password(root_password)


def limits_of(seed: dict[str, Any]) -> Limits:
    """``api.limits`` from the seed's ``limits`` (reference.conf names); the server's defaults otherwise."""
    given = seed.get("limits") or {}
    defaults = Limits()
    return Limits(
        max_services=int(given.get("maxServices", defaults.max_services)),
        max_patterns=int(given.get("maxPatterns", defaults.max_patterns)),
        max_business_policies=int(given.get("maxBusinessPolicies", defaults.max_business_policies)),
    )


def _resolve(state_dir: Path, name: str | None) -> Path | None:
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else state_dir / path


async def _serve(state_dir: Path) -> None:
    exchange_dir = state_dir / "exchange"
    seed = load_seed(exchange_dir / "seed.json")  # the directory exists once the seed does
    store = ExchangeStore(exchange_dir / "state.json", limits=limits_of(seed))
    apply_seed(store, seed)
    store.commit()
    cert, key = _resolve(state_dir, seed.get("certFile")), _resolve(state_dir, seed.get("keyFile"))
    ssl_context = server_ssl_context(cert, key) if cert and key else None
    app = create_exchange_app(store, accept_iamapikey=bool(seed.get("acceptIamapikey", True)))
    runner, port = await start_app(app, ssl_context=ssl_context)
    _LOG.info("Exchange emulator (%s) on 127.0.0.1:%d", "https" if ssl_context else "http", port)
    try:
        await serve_until_signalled(runner, port, state_dir / "exchange.ready.json")
    finally:
        store.flush()  # what the last FLUSH_DELAY of requests changed


def main(state_dir: Path) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(state_dir.resolve()))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(Path(sys.argv[1])))
