"""Run the emulator as a process: ``python -m horizon_publisher.sandbox.kubeapi --kubeconfig out.yaml``.

Prints ``listening on <url>`` once serving; stops on SIGTERM/SIGINT. ``--tls-dir`` generates a CA and
a server certificate there and serves HTTPS (needed by kubectl, which sends tokens over TLS only).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .certs import write_server_certificate
from .runner import EmulatorThread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m horizon_publisher.sandbox.kubeapi")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write a kubeconfig (mode 0600)")
    parser.add_argument("--tls-dir", type=Path, help="serve HTTPS with a CA and certificate generated here")
    parser.add_argument("--event-window", type=int, default=5000, help="watch events kept per resource type")
    args = parser.parse_args(argv)
    from .cluster import InMemoryCluster

    tls, ca_file = None, None
    if args.tls_dir is not None:
        files = write_server_certificate(args.tls_dir)
        tls, ca_file = (files.cert_file, files.key_file), files.ca_file
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmulatorThread(InMemoryCluster(event_window=args.event_window), tls=tls, ca_file=ca_file) as api:
        api.write_kubeconfig(args.kubeconfig)
        print(f"listening on {api.url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
