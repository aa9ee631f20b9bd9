"""A sandbox per flavour with an overlay installed and the operator running as the installed ServiceAccount."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from horizon_publisher.sandbox import manager, processes
from horizon_publisher.sandbox.demo import DEFAULT_SAMPLES, for_the_sandbox
from tests.deploy.manifests import OVERLAYS, render
from tests.deploy.sandbox_install import apply, service_account_kubeconfig, start_operator_as_service_account
from tests.e2e.conftest import Sandbox, start_sandbox

OPERATOR_PROCESS = "operator-as-service-account"


@dataclass
class Installed:
    flavor: str
    sandbox: Sandbox
    rendered: list[dict[str, Any]]
    skipped: list[dict[str, Any]]  # rendered objects whose kind the sandbox does not serve
    operator: processes.Tracked

    def operator_log(self) -> str:
        return Path(self.operator.log).read_text(errors="replace")

    def get(self, *args: str) -> Any:
        return json.loads(self.sandbox.kubectl("get", *args, "-o", "json").stdout)


def samples_for(flavor: str, endpoints: dict[str, Any]) -> str:
    """The samples pointed at the sandbox; on plain Kubernetes without the openshift-provider image
    (tests/deploy/test_sandbox_install.py covers that one on its own)."""
    documents = list(yaml.safe_load_all(for_the_sandbox(DEFAULT_SAMPLES, endpoints)))
    if flavor == "kubernetes":
        documents = [d for d in documents if not (d["kind"] == "EdgeServiceImage" and "openshift" in
                                                  d["spec"]["registry"])]  # fmt: skip
    return yaml.safe_dump_all(documents)


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def installed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    flavor: str = request.param
    directory = tmp_path_factory.mktemp(f"deploy-{flavor}")
    sandbox = start_sandbox(directory / "sandbox", flavor=flavor)
    try:
        rendered = render(OVERLAYS[flavor])
        skipped = apply(sandbox, rendered)
        kubeconfig = service_account_kubeconfig(sandbox, directory / "operator.kubeconfig")
        operator = start_operator_as_service_account(sandbox, kubeconfig, OPERATOR_PROCESS, [], resync_seconds=5)
        sandbox.kubectl("apply", "-f", "-", input_text=samples_for(flavor, sandbox.endpoints))
        yield Installed(flavor, sandbox, rendered, skipped, operator)
    finally:
        processes.stop(sandbox.state_dir, OPERATOR_PROCESS)  # first, so it never sees the API vanish
        manager.down(sandbox.state_dir, out=lambda _: None)
