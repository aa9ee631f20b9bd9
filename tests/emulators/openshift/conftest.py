"""Fixtures: a served sandbox cluster per test (see openshift_sandbox.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openshift_sandbox import Sandbox, start_sandbox


@pytest.fixture
def sandbox_factory(tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def make(**overrides: Any) -> Sandbox:
        box = start_sandbox(tmp_path, **overrides)
        started.append(box)
        return box

    yield make
    for box in started:
        box.close()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory()
