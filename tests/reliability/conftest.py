"""Fixtures of the reliability suite (each helper module documents its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.fault_cluster import FaultyCluster, faulty_cluster


@pytest.fixture(scope="module")
def faulty_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyCluster]:
    """A private sandbox and operator that reach the Exchange, the registry and its token endpoint only
    through fault-injecting proxies (see ``fault_cluster.py``)."""
    with faulty_cluster(tmp_path_factory.mktemp("faults")) as running:
        yield running
