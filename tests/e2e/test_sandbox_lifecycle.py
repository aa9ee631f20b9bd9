"""``sandbox up|status|down``: files written, services answering, everything stopped by PID."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from horizon_publisher.sandbox import manager, processes
from tests.e2e.conftest import start_sandbox


def test_up_status_down(tmp_path: Path) -> None:
    lines: list[str] = []
    sandbox = start_sandbox(tmp_path, flavor="kubernetes")
    try:
        endpoints = sandbox.endpoints
        for key in ("kubernetes", "registry", "exchange"):
            assert endpoints[key]
        for key in ("url", "org", "user", "password"):
            assert endpoints["exchange"][key]
        assert endpoints["registry"]["host"].endswith(".apps.sandbox.horizon.test")
        assert Path(endpoints["registry"]["caFile"]).is_file()
        assert (tmp_path / "kubeconfig").stat().st_mode & 0o077 == 0  # it holds the admin token
        assert (tmp_path / "admin-token").stat().st_mode & 0o077 == 0
        assert (tmp_path / "endpoints.json").stat().st_mode & 0o077 == 0  # it holds the Exchange password

        ca = endpoints["kubernetes"]["caFile"]
        token = (tmp_path / "admin-token").read_text().strip()
        version = requests.get(f"{endpoints['kubernetes']['url']}/version", verify=ca, timeout=5)
        assert version.json()["major"] == "1"
        anonymous = requests.get(f"{endpoints['kubernetes']['url']}/api/v1/namespaces", verify=ca, timeout=5)
        assert anonymous.status_code == 401
        admin = {"Authorization": f"Bearer {token}"}
        assert requests.get(
            f"{endpoints['kubernetes']['url']}/api/v1/namespaces", verify=ca, headers=admin, timeout=5
        ).ok
        # The registry answers under TLS with the sandbox CA and asks for a bearer token from our realm.
        challenge = requests.get(
            f"{endpoints['registry']['url']}/v2/", verify=endpoints["registry"]["caFile"], timeout=5
        )
        assert challenge.status_code == 401
        assert endpoints["registry"]["tokenRealm"] in challenge.headers["WWW-Authenticate"]
        # The Exchange answers over TLS and knows the seeded user.
        exchange = endpoints["exchange"]
        user = (f"{exchange['org']}/{exchange['user']}", exchange["password"])
        assert requests.get(f"{exchange['url']}/admin/version", verify=exchange["caFile"], timeout=5).ok
        orgs = requests.get(
            f"{exchange['url']}/orgs/{exchange['org']}", auth=user, verify=exchange["caFile"], timeout=5
        )
        assert orgs.ok, orgs.text
        wrong = requests.get(
            f"{exchange['url']}/orgs/{exchange['org']}", auth=(user[0], "nope"), verify=exchange["caFile"], timeout=5
        )
        assert wrong.status_code == 401

        assert manager.status(tmp_path, out=lines.append) == 0
        assert sum("running, pid" in line for line in lines) == 4
        assert manager.up(tmp_path, out=lines.append) == 0
        assert "already up" in lines[-1]
        pids = [t.pid for t in processes.load(tmp_path).values()]
    finally:
        manager.down(tmp_path, out=lines.append)
    assert lines[-1].startswith("stopped:")
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    assert manager.status(tmp_path, out=lines.append) == 1
    assert json.loads((tmp_path / "pids.json").read_text()) == {}


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kubernetes_flavor_serves_no_openshift_groups(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path / "k", flavor="kubernetes")
    try:
        groups = sandbox.kubectl("api-versions").stdout.split()
        assert "v1" in groups
        assert "edge.horizon.dev/v1alpha1" in groups
        assert not [g for g in groups if "openshift.io" in g]
    finally:
        manager.down(tmp_path / "k", out=lambda _: None)
    assert os.path.exists(tmp_path / "k" / "endpoints.json")
