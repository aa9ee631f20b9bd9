"""``horizon-publisher verify``: check a published service's signatures as the Horizon agent does.

For each service: GET it, GET its key ids and each key's PEM, then check ``deploymentSignature`` over the
stored ``deployment`` string (and ``clusterDeploymentSignature`` over ``clusterDeployment`` when set) with
each key; a signature is good when **any** key verifies it (agent: ``InputVerifiedByAnyKey``). The
signature and certificate rules live in :mod:`horizon_publisher.signing` (``verify_with_any``).

Credentials come from the environment, as hzn takes them: ``HZN_EXCHANGE_USER_AUTH=user:password`` (or
``apikey:KEY``), else ``HORIZON_PUBLISHER_EXCHANGE_USER`` and ``HORIZON_PUBLISHER_EXCHANGE_PASSWORD``.
``--exchange-url`` and ``--org`` default to ``HZN_EXCHANGE_URL`` and ``HZN_ORG_ID``.

Gaps against the agent: only the service's own Exchange keys are tried (not the node's trust directory, nor
the keys of a pattern that deploys the service); pattern ``deployment_overrides`` are not checked.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from horizon_publisher.clients.exchange import ExchangeClient
from horizon_publisher.clients.exchange_model import ExchangeEndpoint, ExchangeError
from horizon_publisher.signing import key_or_certificate_problem, verify_with_any

# verify_with_any(deployment, signature_b64, pems) -> True when any PEM verifies the signature.
Verifier = Callable[[str, str, list[str]], bool]

SIGNED_FIELDS = (("deployment", "deploymentSignature"), ("clusterDeployment", "clusterDeploymentSignature"))
EXIT_USAGE = 2


@dataclass(frozen=True)
class VerifyReport:
    service: str  # org/id
    ok: bool
    detail: str
    key_ids: tuple[str, ...] = ()
    verified_by: dict[str, str] = field(default_factory=dict)  # signed field -> key id

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.service}: {self.detail}"


class _Failed(Exception):
    def __init__(self, detail: str, key_ids: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.key_ids = key_ids


def verify_service(client: ExchangeClient, service_id: str, *, verifier: Verifier | None = None) -> VerifyReport:
    """Fetch the service and its keys and check every signed payload; Exchange errors become a failed report."""
    name = f"{client.org}/{service_id}"
    try:
        service, pems = _fetch(client, service_id)
        verified_by = _check(service, pems, verifier or verify_with_any)
    except ExchangeError as error:
        return VerifyReport(name, ok=False, detail=f"{error.reason}: {error.message}")
    except _Failed as failure:
        return VerifyReport(name, ok=False, detail=failure.detail, key_ids=failure.key_ids)
    detail = "; ".join(f"{payload} signature verified by key {kid}" for payload, kid in verified_by.items())
    return VerifyReport(name, ok=True, detail=detail, key_ids=tuple(pems), verified_by=verified_by)


def _fetch(client: ExchangeClient, service_id: str) -> tuple[dict[str, Any], dict[str, str]]:
    service = client.get_service(service_id)
    if service is None:
        raise _Failed("not found in the Exchange (or not visible to these credentials)")
    if not any(service.get(payload) for payload, _ in SIGNED_FIELDS):
        raise _Failed("has no deployment or clusterDeployment to verify")
    key_ids = client.get_service_keys(service_id)
    pems = {key_id: pem for key_id in key_ids if (pem := client.get_service_key(service_id, key_id))}
    if not pems:
        raise _Failed("no public keys are published for the service")
    return service, pems


def _check(service: dict[str, Any], pems: dict[str, str], check: Verifier) -> dict[str, str]:
    """For each signed payload, the id of the first key that verifies its signature."""
    verified_by: dict[str, str] = {}
    for payload, sig in SIGNED_FIELDS:
        if not service.get(payload):
            continue
        signature = str(service.get(sig) or "")
        if not signature:
            raise _Failed(f"{payload} is not signed ({sig} is empty)", tuple(pems))
        key_id = next((kid for kid, pem in pems.items() if check(str(service[payload]), signature, [pem])), None)
        if key_id is None:
            raise _Failed(f"{sig} does not verify with any of the service's keys ({_describe(pems)})", tuple(pems))
        verified_by[payload] = key_id
    return verified_by


def _describe(pems: dict[str, str]) -> str:
    """Each key id, with the reason the agent would refuse the key file, if it would."""
    described = []
    for key_id in sorted(pems):
        problem = key_or_certificate_problem(pems[key_id])
        described.append(f"{key_id}: {problem}" if problem else key_id)
    return ", ".join(described)


def credentials_from_env(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``(username, password)`` from ``HZN_EXCHANGE_USER_AUTH`` or the ``HORIZON_PUBLISHER_EXCHANGE_*`` pair."""
    combined = environ.get("HZN_EXCHANGE_USER_AUTH", "")
    if ":" in combined:
        user, _, password = combined.partition(":")
        if user and password:
            return user, password
    user = environ.get("HORIZON_PUBLISHER_EXCHANGE_USER", "")
    password = environ.get("HORIZON_PUBLISHER_EXCHANGE_PASSWORD", "")
    return (user, password) if user and password else None


def verify_services(
    endpoint: ExchangeEndpoint, service_ids: Sequence[str], *, verifier: Verifier | None = None
) -> list[VerifyReport]:
    """The argparse-free core: one report per id (``id`` or ``org/id`` of the endpoint's org)."""
    reports = []
    with ExchangeClient(endpoint) as client:
        for given in service_ids:
            org, slash, bare = given.rpartition("/")
            if slash and org != endpoint.org:
                reports.append(VerifyReport(given, ok=False, detail=f"is not in org {endpoint.org}"))
                continue
            reports.append(verify_service(client, bare, verifier=verifier))
    return reports


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    url, org = env.get("HZN_EXCHANGE_URL"), env.get("HZN_ORG_ID")
    parser.add_argument("--exchange-url", default=url, required=url is None, help="base URL incl. /v1")
    parser.add_argument("--org", default=org, required=org is None, help="the Exchange org of the services")
    parser.add_argument("--ca-file", type=Path, help="PEM CA bundle to trust for the Exchange")
    parser.add_argument(
        "--insecure-skip-tls-verify", action="store_true", help="do not verify the Exchange's certificate"
    )
    parser.add_argument("service_ids", nargs="+", metavar="SERVICE_ID", help="e.g. example.com-gps_1.0.0_amd64")


def run(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None, verifier: Verifier | None = None) -> int:
    """Print one line per service; 0 when every service verifies, 1 otherwise, 2 on a usage problem."""
    credentials = credentials_from_env(os.environ if environ is None else environ)
    if credentials is None:
        print(
            "verify: set HZN_EXCHANGE_USER_AUTH=user:password (or HORIZON_PUBLISHER_EXCHANGE_USER and "
            "HORIZON_PUBLISHER_EXCHANGE_PASSWORD)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    ca_pem = None
    if args.ca_file is not None:
        try:
            ca_pem = args.ca_file.read_text()
        except (OSError, UnicodeDecodeError) as error:
            print(f"verify: cannot read --ca-file {args.ca_file}: {error.__class__.__name__}", file=sys.stderr)
            return EXIT_USAGE
    endpoint = ExchangeEndpoint(
        url=args.exchange_url,
        org=args.org,
        username=credentials[0],
        password=credentials[1],
        ca_pem=ca_pem,
        insecure_skip_verify=args.insecure_skip_tls_verify,
    )
    reports = verify_services(endpoint, args.service_ids, verifier=verifier)
    for report in reports:
        print(report.line())
    return 0 if all(report.ok for report in reports) else 1


def main(argv: Sequence[str] | None = None, *, verifier: Verifier | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="horizon-publisher verify", description="Check published services' signatures as the agent does."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv), verifier=verifier)


if __name__ == "__main__":
    sys.exit(main())
