"""``api.limits`` from the Exchange process's seed: the server's defaults unless the seed raises them."""

from __future__ import annotations

import pytest
from exchange_harness import ORG, Exchange, seeded_store, service_body

from horizon_publisher.sandbox.exchange.process import limits_of
from horizon_publisher.sandbox.exchange.store import Limits


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ({}, Limits(1000, 1000, 5000)),
        ({"limits": {"maxServices": 0}}, Limits(0, 1000, 5000)),
        ({"limits": {"maxServices": 10000, "maxPatterns": 5, "maxBusinessPolicies": 7}}, Limits(10000, 5, 7)),
    ],
)
def test_limits_of(seed: dict[str, object], expected: Limits) -> None:
    assert limits_of(seed) == expected


@pytest.mark.parametrize(("max_services", "created"), [(2, 3), (0, 5)])
def test_services_per_owner_stop_at_the_limit(max_services: int, created: int) -> None:
    """As exchange-api 2.154.0: 403 "over the limit" once an owner holds more than the limit (its off-by-one);
    0 is unlimited. An org publishing 1000 two-arch services as one user meets the default 1000."""
    store = seeded_store()
    store.limits = Limits(max_services=max_services)
    with Exchange(store) as exchange:
        answers = [
            exchange.call("POST", f"/orgs/{ORG}/services", json_body=service_body(version=f"1.0.{i}")).status_code
            for i in range(5)
        ]
    assert answers == [201] * created + [403] * (5 - created)
