"""The sandbox process: seed, HTTPS, ready file, SIGTERM, and state that survives a restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from exchange_harness import service_body

from horizon_publisher.sandbox.exchange import ExchangeStore
from horizon_publisher.sandbox.exchange.process import apply_seed
from horizon_publisher.sandbox.pki import ensure_pki

SEED = {"org": "sandbox", "user": "publisher", "password": "pub-password", "apikey": "k" * 64, "rootPassword": "rootpw"}
LAUNCH = "import sys; from pathlib import Path; from horizon_publisher.sandbox.exchange.process import main; " \
    "raise SystemExit(main(Path(sys.argv[1])))"  # fmt: skip


class Running:
    def __init__(self, state_dir: Path) -> None:
        self.ready = state_dir / "exchange.ready.json"
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(state_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while not self.ready.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(self.output())
            time.sleep(0.05)
        self.info: dict[str, Any] = json.loads(self.ready.read_text())

    def output(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    pki = ensure_pki(tmp_path / "pki")
    (tmp_path / "exchange").mkdir()
    seed = {**SEED, "certFile": str(pki.router_cert), "keyFile": "pki/router.key"}  # relative: to STATE_DIR
    (tmp_path / "exchange" / "seed.json").write_text(json.dumps(seed))
    return tmp_path


def test_process_serves_https_and_state_survives_a_restart(state_dir: Path) -> None:
    ca = str(state_dir / "pki" / "ca.crt")
    first = Running(state_dir)
    try:
        assert first.info["pid"] == first.process.pid
        base = f"https://127.0.0.1:{first.info['port']}/v1"
        assert requests.get(base + "/admin/version", verify=ca, timeout=5).text == "2.154.0\n"
        created = requests.post(
            base + "/orgs/sandbox/services",
            json=service_body(),
            auth=("sandbox/publisher", "pub-password"),
            verify=ca,
            timeout=5,
        )
        assert created.status_code == 201, created.text
        key = requests.put(
            base + "/orgs/sandbox/services/example.com-gps_1.0.0_amd64/keys/k.pem",
            data="PEM",
            auth=("sandbox/apikey", "k" * 64),
            verify=ca,
            timeout=5,
        )
        assert key.status_code == 201
    finally:
        assert first.stop() == 0
    assert not first.ready.exists()  # a clean stop removes the ready file
    state_file = state_dir / "exchange" / "state.json"
    assert state_file.stat().st_mode & 0o077 == 0
    assert "pub-password" not in state_file.read_text()  # secrets are stored hashed

    second = Running(state_dir)
    try:
        base = f"https://127.0.0.1:{second.info['port']}/v1"
        got = requests.get(
            base + "/orgs/sandbox/services/example.com-gps_1.0.0_amd64",
            auth=("root/root", "rootpw"),
            verify=ca,
            timeout=5,
        )
        assert got.status_code == 200
        assert got.json()["services"]["sandbox/example.com-gps_1.0.0_amd64"]["owner"] == "sandbox/publisher"
        keys = requests.get(
            base + "/orgs/sandbox/services/example.com-gps_1.0.0_amd64/keys",
            auth=("sandbox/publisher", "pub-password"),
            verify=ca,
            timeout=5,
        )
        assert keys.json() == ["k.pem"]
    finally:
        assert second.stop() == 0
    logged = first.output() + second.output()
    assert "listening on 127.0.0.1" in logged
    for secret in ("pub-password", "k" * 64, "rootpw"):
        assert secret not in logged


def test_seed_is_idempotent_and_does_not_reset_passwords(tmp_path: Path) -> None:
    store = ExchangeStore(tmp_path / "state.json")
    apply_seed(store, SEED)
    uuid_before = store.user("sandbox", "publisher")["uuid"]  # type: ignore[index]
    store.add_user("sandbox", "publisher", "changed", admin=True)
    apply_seed(ExchangeStore(tmp_path / "state.json"), SEED)
    reloaded = ExchangeStore(tmp_path / "state.json")
    user = reloaded.user("sandbox", "publisher")
    assert user is not None
    assert user["uuid"] == uuid_before
    assert reloaded.check_secret(user["passwordHash"], "changed")
    assert len(reloaded.collection("apikeys")) == 1
    assert reloaded.user("root", "root") is not None


def test_plain_http_without_certificates(tmp_path: Path) -> None:
    (tmp_path / "exchange").mkdir()
    (tmp_path / "exchange" / "seed.json").write_text(json.dumps({"org": "o", "user": "u", "password": "p"}))
    running = Running(tmp_path)
    try:
        response = requests.get(f"http://127.0.0.1:{running.info['port']}/v1/orgs/o", auth=("o/u", "p"), timeout=5)
        assert response.status_code == 200
    finally:
        assert running.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.kill(running.info["pid"], 0)
