"""The parsed-key cache: one parse per distinct key, bounded, errors never cached."""

from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from horizon_publisher import signing
from horizon_publisher.signing_cache import PARSED_KEYS, ParsedKeys


def _der(bits: int = 1024) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der_format = serialization.Encoding.DER, serialization.PrivateFormat.PKCS8
    return key.private_bytes(*der_format, serialization.NoEncryption())


@pytest.fixture(scope="module")
def ders() -> list[bytes]:
    return [_der() for _ in range(3)]


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, der: bytes) -> rsa.RSAPrivateKey:
        self.calls += 1
        key = serialization.load_der_private_key(der, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key


def test_a_key_is_parsed_once_and_the_same_object_returned(ders: list[bytes]) -> None:
    cache, parse = ParsedKeys(), Counting()
    first = cache.get_or_parse(ders[0], parse)
    assert cache.get_or_parse(ders[0], parse) is first
    assert parse.calls == 1
    assert cache.get_or_parse(ders[1], parse) is not first
    assert parse.calls == 2


def test_least_recently_used_goes_first(ders: list[bytes]) -> None:
    cache, parse = ParsedKeys(capacity=2), Counting()
    cache.get_or_parse(ders[0], parse)
    cache.get_or_parse(ders[1], parse)
    cache.get_or_parse(ders[0], parse)  # 0 is now the most recent
    cache.get_or_parse(ders[2], parse)  # evicts 1
    assert len(cache) == 2
    cache.get_or_parse(ders[0], parse)
    assert parse.calls == 3
    cache.get_or_parse(ders[1], parse)
    assert parse.calls == 4


def test_parse_errors_propagate_and_are_not_cached() -> None:
    cache = ParsedKeys()
    calls = []

    def broken(der: bytes) -> rsa.RSAPrivateKey:
        calls.append(der)
        raise ValueError("not a key")

    for _ in range(2):
        with pytest.raises(ValueError, match="not a key"):
            cache.get_or_parse(b"garbage", broken)
    assert len(calls) == 2
    assert len(cache) == 0


def test_concurrent_readers_get_one_key(ders: list[bytes]) -> None:
    cache, parse = ParsedKeys(), Counting()
    found: list[rsa.RSAPrivateKey] = []
    cache.get_or_parse(ders[0], parse)
    threads = [threading.Thread(target=lambda: found.append(cache.get_or_parse(ders[0], parse))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert parse.calls == 1
    assert len({id(k) for k in found}) == 1


def test_signing_reuses_the_parsed_key_across_loads() -> None:
    private_pem, certificate_pem = signing.generate_signing_key(bits=2048, organization="o", common_name="cn")
    first = signing.load_signing_key(private_pem, certificate_pem)
    second = signing.load_signing_key_lazily(lambda: private_pem, certificate_pem)
    assert second.private_key is first.private_key

    def must_not_parse(_: bytes) -> rsa.RSAPrivateKey:
        raise AssertionError("parsed again")

    der = first.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert PARSED_KEYS.get_or_parse(der, must_not_parse) is first.private_key
    assert signing.verify("{}", signing.sign("{}", second), certificate_pem)


def test_workers_meeting_a_new_key_together_parse_it_once(ders: list[bytes]) -> None:
    cache = ParsedKeys()
    start = threading.Barrier(8)
    calls: list[int] = []

    def slow_parse(der: bytes) -> rsa.RSAPrivateKey:
        calls.append(1)
        return Counting()(der)

    def worker() -> None:
        start.wait()
        cache.get_or_parse(ders[2], slow_parse)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
