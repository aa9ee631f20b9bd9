"""``horizon-publisher``: run the operator, or bring a local sandbox up and down."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_STATE_DIR = Path(".sandbox")


def _run(args: argparse.Namespace) -> int:
    from horizon_publisher.runner import run_operator

    return run_operator(
        namespaces=args.namespace or [],
        liveness=args.liveness,
        verbose=args.verbose,
    )


def _sandbox(args: argparse.Namespace) -> int:
    from horizon_publisher.sandbox import manager

    if args.sandbox_command == "up":
        return manager.up(args.state_dir, flavor=args.flavor, crds=args.crds)
    if args.sandbox_command == "down":
        return manager.down(args.state_dir)
    if args.sandbox_command == "status":
        return manager.status(args.state_dir)
    if args.sandbox_command == "demo":
        from horizon_publisher.sandbox.demo import demo

        return demo(args.state_dir, flavor=args.flavor, samples=args.samples)
    if args.sandbox_command == "serve-kube":
        from horizon_publisher.sandbox.kube_process import main as serve_kube

        return serve_kube(args.state_dir)
    if args.sandbox_command == "serve-registry-auth":
        from horizon_publisher.sandbox.registry_auth_process import main as serve_auth

        return serve_auth(args.state_dir)
    if args.sandbox_command == "serve-exchange":
        from horizon_publisher.sandbox.exchange.process import main as serve_exchange

        return serve_exchange(args.state_dir)
    raise AssertionError(args.sandbox_command)


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
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging (never logs secrets)")
    run.set_defaults(handler=_run)

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
