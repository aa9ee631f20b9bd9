"""skopeo, a real registry client, against the sandbox registry and its token endpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from registry_harness import SandboxRegistry

from horizon_publisher.sandbox.images import push_image, resolve_digest


def skopeo(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed: apt-get install skopeo")
    policy = home / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    # A private HOME and auth file: only the --creds given here may be used.
    env = {**os.environ, "HOME": str(home), "REGISTRY_AUTH_FILE": str(home / "auth.json")}
    return subprocess.run(
        ["skopeo", "--policy", str(policy), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_skopeo_copies_to_and_from_the_registry(token_registry: SandboxRegistry, tmp_path: Path) -> None:
    digest = push_image(
        token_registry.url,
        "demo/skopeo-src",
        "v1",
        credentials=("u", "pusher-token"),
        verify=token_registry.ca,
    )
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(token_registry.ca, certs / "ca.crt")
    host = f"127.0.0.1:{token_registry.process.port}"
    layout = f"oci:{tmp_path / 'layout'}:v1"

    pulled = skopeo(
        "copy", "--src-cert-dir", str(certs), "--src-creds", "anyone:puller-token",
        f"docker://{host}/demo/skopeo-src:v1", layout, home=tmp_path,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    denied = skopeo(
        "copy", "--dest-cert-dir", str(certs), "--dest-creds", "anyone:puller-token",
        layout, f"docker://{host}/demo/skopeo-dst:v1", home=tmp_path,
    )  # fmt: skip
    assert denied.returncode != 0
    assert "denied" in denied.stderr or "unauthorized" in denied.stderr.lower(), denied.stderr
    pushed = skopeo(
        "copy", "--dest-cert-dir", str(certs), "--dest-creds", "anyone:pusher-token",
        layout, f"docker://{host}/demo/skopeo-dst:v1", home=tmp_path,
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr

    # skopeo keeps the manifest bytes, so the copy has the same digest as the original.
    copied = resolve_digest(
        token_registry.url,
        "demo/skopeo-dst",
        "v1",
        credentials=("u", "puller-token"),
        verify=token_registry.ca,
    )
    assert copied == digest
    inspected = skopeo(
        "inspect", "--cert-dir", str(certs), "--creds", "x:puller-token", f"docker://{host}/demo/skopeo-dst:v1",
        home=tmp_path,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Digest"] == digest
