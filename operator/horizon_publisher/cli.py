"""``horizon-publisher``: run the operator, or bring a local sandbox up and down."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

DEFAULT_STATE_DIR = Path(".sandbox")


def _run(args: argparse.Namespace) -> int:
    from horizon_publisher.runner import run_operator

    return run_operator(
        namespaces=args.namespace or [],
        liveness=args.liveness,
        verbose=args.verbose,
        metrics_address=args.metrics_address,
    )


def _metrics_address(text: str) -> str:
    """argparse type of --metrics-address: HOST:PORT or ''."""
    from horizon_publisher.metrics import parse_address

    try:
        parse_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _sandbox(args: argparse.Namespace) -> int:
    from horizon_publisher.sandbox import manager

    command: str = args.sandbox_command
    state_dir: Path = args.state_dir
    if command == "up":
        return manager.up(state_dir, flavor=args.flavor, crds=args.crds, max_token_seconds=args.max_token_seconds)
    if command == "demo":
        from horizon_publisher.sandbox.demo import demo

        return demo(state_dir, flavor=args.flavor, samples=args.samples)
    return _SANDBOX_COMMANDS[command](state_dir)


def _serve(module: str) -> Callable[[Path], int]:
    """The foreground entry point of one sandbox service process (started by ``up``)."""

    def serve(state_dir: Path) -> int:
        main: Callable[[Path], int] = importlib.import_module(module).main
        return main(state_dir)

    return serve


def _manager(name: str) -> Callable[[Path], int]:
    def call(state_dir: Path) -> int:
        from horizon_publisher.sandbox import manager

        command: Callable[[Path], int] = getattr(manager, name)
        return command(state_dir)

    return call


_SANDBOX_COMMANDS: dict[str, Callable[[Path], int]] = {
    "down": _manager("down"),
    "status": _manager("status"),
    "serve-kube": _serve("horizon_publisher.sandbox.kube_process"),
    "serve-registry-auth": _serve("horizon_publisher.sandbox.registry_auth_process"),
    "serve-exchange": _serve("horizon_publisher.sandbox.exchange.process"),
    "serve-ibmcloud": _serve("horizon_publisher.sandbox.ibmcloud_process"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="horizon-publisher", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the operator (kopf, standalone) against the current kubeconfig")
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="watch only this namespace (repeatable); default: all namespaces",
    )
    run.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="kopf liveness endpoint URL ('' to disable); default %(default)s",
    )
    run.add_argument(
        "--metrics-address",
        type=_metrics_address,
        default="0.0.0.0:9090",
        help="serve Prometheus metrics at http://HOST:PORT/metrics ('' to disable); default %(default)s",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging (never logs secrets)")
    run.set_defaults(handler=_run)

    verify = commands.add_parser(
        "verify", help="check Exchange services' deployment signatures as the Horizon agent does"
    )
    from horizon_publisher import verify as verify_module

    verify_module.add_arguments(verify)
    verify.set_defaults(handler=verify_module.run)

    sandbox = commands.add_parser("sandbox", help="a local sandbox: Kubernetes/OpenShift emulator + registry")
    sandbox_commands = sandbox.add_subparsers(dest="sandbox_command", required=True)
    for name, text in (
        ("up", "start everything on 127.0.0.1 and write kubeconfig + endpoints.json"),
        ("down", "stop everything the sandbox started, by PID"),
        ("status", "report what runs"),
        ("demo", "sandbox up, run the operator, apply the samples, show their conditions"),
        ("serve-kube", argparse.SUPPRESS),
        ("serve-registry-auth", argparse.SUPPRESS),
        ("serve-exchange", argparse.SUPPRESS),
        ("serve-ibmcloud", argparse.SUPPRESS),
    ):
        sub = sandbox_commands.add_parser(name, help=text)
        sub.add_argument(
            "--state-dir",
            type=Path,
            default=DEFAULT_STATE_DIR,
            help="where the sandbox keeps its state, logs and PIDs (default: %(default)s)",
        )
        if name in ("up", "demo"):
            sub.add_argument(
                "--flavor",
                choices=("openshift", "kubernetes"),
                default="openshift",
                help="serve OpenShift's APIs too (default) or plain Kubernetes only",
            )
        if name == "up":
            sub.add_argument("--crds", type=Path, default=None, help="directory of CRDs to install")
            sub.add_argument(
                "--max-token-seconds",
                type=int,
                default=None,
                help="shorten every TokenRequest to this many seconds (exercises token rotation)",
            )
        if name == "demo":
            sub.add_argument("--samples", type=Path, default=None, help="directory of sample resources")
    sandbox.set_defaults(handler=_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
