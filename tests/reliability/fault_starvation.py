"""Head-of-line blocking: while some publications' Exchange calls hang (an answer that never comes, held past
the client's 30 s read timeout), how long does an unrelated publication wait to be published?

Each hung reconcile holds one of kopf's worker threads (16) for 30 s, and the object's resync timer, which
waits for the object's lock, holds another: ten hung publications take twenty threads, and everything else
the operator does (other publications, EdgeServiceImages, token renewals) waits for one to come free.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from horizon_publisher.sandbox.fault_http import Rule, timeout
from tests.e2e.publication_support import ReadyImage, epub_path
from tests.e2e.service_image_kube import GROUP, VERSION
from tests.e2e.service_image_support import RESYNC_SECONDS, condition
from tests.reliability.fault_cluster import FaultyCluster
from tests.reliability.fault_invariants import removal_problems
from tests.reliability.fault_run import POLL, manifest_for, names_for

HUNG = 10
FIRST_INDEX = 10_000  # publication names and urls apart from the matrix's
HANG_BOUND = 30.0  # seconds for every hung publication's service POST to be held


def fresh_publication_delay(fc: FaultyCluster, image: ReadyImage) -> float | None:
    """Seconds from applying a healthy publication to its Ready=True, while ``HUNG`` others hang in the
    Exchange (their service POST is held); None if not Ready within a minute. Deletes them all after."""
    collection = f"/apis/{GROUP}/{VERSION}/namespaces/{image.namespace}/edgepublications"
    names = [names_for(fc, FIRST_INDEX + i, image) for i in range(HUNG + 1)]
    made = [(f"hung-{i}", n) for i, n in enumerate(names[:HUNG])] + [("healthy", names[HUNG])]
    rules = []
    try:
        for name, hung in made[:HUNG]:
            body = rf'"url":\s*"{re.escape(hung.url)}"'
            target = f"^/v1/orgs/{re.escape(hung.org)}/services$"
            rules.append(fc.exchange.add(Rule("POST", target, timeout(hold_seconds=40), body=body, count=1)))
            fc.cluster.kube.create(collection, manifest_for(fc, name, hung, image))
        deadline = time.monotonic() + HANG_BOUND
        while not all(rule.fired for rule in rules):
            assert time.monotonic() < deadline, f"only {sum(r.fired > 0 for r in rules)} of {HUNG} hung"
            time.sleep(POLL)
        time.sleep(RESYNC_SECONDS + 1.0)  # the hung objects' resync timers come due meanwhile
        applied = time.monotonic()
        fc.cluster.kube.create(collection, manifest_for(fc, "healthy", names[HUNG], image))
        while time.monotonic() - applied < 60:
            resource = fc.cluster.kube.get(epub_path(image.namespace, "healthy"))
            if condition(resource, "Ready").get("status") == "True":
                return time.monotonic() - applied
            time.sleep(POLL)
        return None
    finally:
        for rule in rules:
            fc.exchange.remove(rule)
        with ThreadPoolExecutor(len(made)) as pool:
            list(pool.map(lambda pair: removal_problems(fc, image.namespace, *pair), made))
