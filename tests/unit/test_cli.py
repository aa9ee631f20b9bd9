"""The command line: the subcommands the README and the sandbox rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from horizon_publisher.cli import DEFAULT_STATE_DIR, build_parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run"], {"command": "run", "namespace": None, "liveness": "http://0.0.0.0:8080/healthz"}),
        (["run", "-n", "a", "-n", "b", "--liveness", ""], {"namespace": ["a", "b"], "liveness": ""}),
        (["sandbox", "up"], {"sandbox_command": "up", "state_dir": DEFAULT_STATE_DIR, "flavor": "openshift"}),
        (
            ["sandbox", "up", "--state-dir", "/s", "--flavor", "kubernetes"],
            {"state_dir": Path("/s"), "flavor": "kubernetes"},
        ),
        (["sandbox", "down", "--state-dir", "/s"], {"sandbox_command": "down", "state_dir": Path("/s")}),
        (["sandbox", "status"], {"sandbox_command": "status"}),
        (["sandbox", "demo"], {"sandbox_command": "demo", "samples": None}),
    ],
)
def test_parses(argv: list[str], expected: dict[str, object]) -> None:
    parsed = vars(build_parser().parse_args(argv))
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize("argv", [[], ["sandbox"], ["sandbox", "up", "--flavor", "okd"], ["publish"]])
def test_rejects(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
