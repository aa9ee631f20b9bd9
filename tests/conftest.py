"""Process-wide state of the operator's clients that one test must not leave to the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from horizon_publisher.clients.retry_after import GATES


@pytest.fixture(autouse=True)
def _no_retry_after_carried_over() -> Iterator[None]:
    """A Retry-After one test's server sent holds every client of that server; tests reuse base URLs."""
    GATES.clear()
    yield
    GATES.clear()
