"""An Open Horizon Exchange REST API emulator (exchange-api 2.154.0) for the sandbox and the tests.

Contract: ``exchange-api.md`` (the reference next to the project), settled against the Scala source at
commit dfaabdcc where the two differ. Public API: :func:`create_exchange_app` (aiohttp application, routes
under ``/v1``), :class:`ExchangeStore` (state, persisted atomically to a JSON file), and
``horizon_publisher.sandbox.exchange.process.main(state_dir)`` (the sandbox process).

Emulated: Basic auth as ``org/user:password``, ``org/apikey:KEY``, ``org/iamapikey:KEY`` (accepted as IEAM
does, checked against the org's Exchange API keys; open-source Exchange 2.154.0 refuses it with 401, which
``create_exchange_app(..., accept_iamapikey=False)`` reproduces), ``org/node:token``, ``org/agbot:token``,
``root/root``; roles (user, org admin, hub admin, superuser, node, agbot) with the default ACLs and resource
ownership; services (ids, validation, requiredServices ranges, visibility, list filters, PATCH of one
attribute), service keys and dockauths, service policies, patterns and their keys, deployment policies,
``/v1/admin/version``, ``/v1/test``, ``/v1/admin/status``, org GET/POST/status, user GET/POST, API key POST.

Gaps (known differences from the real server):
- Jackson error texts (bad JSON, wrong types, unknown fields, failed ``require``) are imitations without
  Jackson's ``at [Source: ...]`` location; status and ``code`` are exact. Number-to-string coercion uses
  Python's float text (``1e10`` becomes ``10000000000.0``, Jackson writes ``1.0E10``).
- Paths where the real server crashes (a version part beyond Int.MaxValue -> 502; a missing
  ``serviceVersions`` list -> NPE) answer 400 here.
- Messages that embed PostgreSQL exception text (duplicate key, foreign key) use a plausible text, not
  necessarily PostgreSQL's exact words; the property-type list of the service-policy error is in
  declaration order (the server prints a Scala HashSet, whose order differs).
- ``documentation`` URL validity approximates ``java.net.URL`` (known protocols only).
- No PATCH for patterns or deployment policies; no ``?attribute=`` on patterns/policies; no node, agbot,
  agreement, message, search, management-policy, node-group, or change-tracking (``resourcechanges``)
  routes; nodes and agbots exist only to authenticate (add them with :meth:`ExchangeStore.add_node`).
- User routes are minimal: no PUT/PATCH/DELETE of users, no API key listing or deletion, no password
  change; org routes have no PUT/PATCH/DELETE; status counts agreements and messages as 0.
- No OAuth (Bearer + ``X-Organization``) mode; no identity or ownership cache TTLs (changes are visible
  at once, where the real server may serve a cached owner for a few seconds).
- The required-service pre-filter's SQL ``LIKE`` quirks (``_`` and ``\\`` in urls) are not reproduced;
  the final exact (org, url, arch, version-in-range) check is.
- CORS headers and swagger (``/v1/swagger``, ``/v1/api-docs``) are not served.
- Passwords, tokens and API keys are PBKDF2-hashed (the server uses Argon2id); dockauth tokens are stored
  in clear in ``state.json`` (mode 0600) because the API returns them.
"""

from horizon_publisher.sandbox.exchange.app import create_exchange_app
from horizon_publisher.sandbox.exchange.store import ExchangeStore, Limits

__all__ = ["ExchangeStore", "Limits", "create_exchange_app"]
