"""Parsed RSA private keys, kept for reuse: parsing a 4096-bit key (with OpenSSL's consistency checks) costs
about 130 ms of CPU, signing with it about 5 ms, and every publication of a team signs with the same key.

Keyed by the SHA-256 of the key's DER bytes, never by the PEM text, so the cache holds no second copy of
the secret in text form; bounded (least recently used go first), so a key rotated out of every Secret
leaves memory after :data:`CAPACITY` other keys have been used. Thread-safe: handlers run in threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

CAPACITY = 64


class ParsedKeys:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[bytes, rsa.RSAPrivateKey] = OrderedDict()
        self._lock = threading.Lock()
        self._parsing = threading.Lock()

    def get_or_parse(self, der: bytes, parse: Callable[[bytes], rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
        """The key ``der`` encodes: from the cache, else ``parse(der)`` (its errors propagate, nothing is kept)."""
        digest = hashlib.sha256(der).digest()
        with self._lock:
            found = self._keys.get(digest)
            if found is not None:
                self._keys.move_to_end(digest)
                return found
        with self._parsing:  # one parse at a time: sixteen workers meeting a new key parse it once, not 16 times
            with self._lock:
                found = self._keys.get(digest)
            if found is not None:
                return found
            parsed = parse(der)
            with self._lock:
                self._keys[digest] = parsed
                self._keys.move_to_end(digest)
                while len(self._keys) > self._capacity:
                    self._keys.popitem(last=False)
        return parsed

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)


PARSED_KEYS = ParsedKeys()
