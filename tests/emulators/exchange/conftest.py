"""Fixtures: a seeded Exchange emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from exchange_harness import Exchange, seeded_store


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    with Exchange(seeded_store()) as running:
        yield running
