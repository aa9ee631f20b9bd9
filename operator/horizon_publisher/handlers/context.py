"""What every handler shares: the API clients, per-object locks, the resync interval."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from horizon_publisher.clients.exchange import ExchangeClient, ExchangeEndpoint
from horizon_publisher.clients.ibmcloud import IbmCloud
from horizon_publisher.clients.kube import Kube
from horizon_publisher.clients.registry import RegistryClient, RegistryEndpoint
from horizon_publisher.handlers.follow_images import Dependents, Kicks
from horizon_publisher.handlers.status_writer import StatusWriter
from horizon_publisher.reconcile.exchange_memory import ExchangeMemory

# Level-triggered safety net: drift, token renewal and moved tags are noticed at least this often.
RESYNC_SECONDS = float(os.environ.get("HORIZON_PUBLISHER_RESYNC_SECONDS", "60"))


@dataclass
class OperatorContext:
    kube: Kube
    locks: dict[str, threading.RLock] = field(default_factory=dict)
    locks_guard: threading.Lock = field(default_factory=threading.Lock)
    last_status: dict[str, dict[str, Any]] = field(default_factory=dict)  # by uid: the status we wrote last
    ibmcloud: IbmCloud = field(default_factory=IbmCloud)  # holds the IAM token cache for every resource
    status_writer: StatusWriter | None = None  # the resync timers' own status writes (None: through kopf)
    image_fingerprints: dict[str, str] = field(default_factory=dict)  # by image uid: what publications read
    kicks: Kicks = field(default_factory=Kicks)  # publications to reconcile again (follow_images)
    dependents: Dependents = field(default_factory=Dependents)  # image -> publications (follow_images)
    exchange_memory: ExchangeMemory = field(default_factory=ExchangeMemory)  # keys/dockauths confirmed lately

    @staticmethod
    def exchange_factory(endpoint: ExchangeEndpoint) -> ExchangeClient:
        return ExchangeClient(endpoint)

    @staticmethod
    def registry_factory(endpoint: RegistryEndpoint) -> RegistryClient:
        return RegistryClient(endpoint)
