"""Process-wide CA files: one validated, private, stable-path file per distinct PEM, reference-counted,
idle files kept up to a bound (least recently released removed first), never removed while held."""

from __future__ import annotations

import datetime as dt
import gc
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from horizon_publisher.clients import ca_files
from horizon_publisher.clients.ca_files import CA_FILES, RequestsVerify, SharedCAFiles, check_ca_pem


def make_ca(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pems() -> list[str]:
    return [make_ca(f"unit CA {i}") for i in range(5)]


@pytest.fixture
def files() -> Any:
    shared = SharedCAFiles(max_idle=2)
    yield shared
    shared.remove_all()


def test_one_private_file_per_pem_at_a_stable_path(files: SharedCAFiles, pems: list[str]) -> None:
    first, again, other = files.acquire(pems[0]), files.acquire(pems[0]), files.acquire(pems[1])
    assert first.path == again.path != other.path
    assert first.path.read_text() == pems[0]
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.path.parent.stat().st_mode) == 0o700
    assert (files.validations, files.writes, files.holders(pems[0])) == (2, 2, 2)
    first.release()
    again.release()
    # Idle, not removed: the next holder gets the same path without a new write or validation.
    assert files.acquire(pems[0]).path == first.path
    assert (files.validations, files.writes) == (2, 2)


def test_a_held_file_is_never_removed_and_idle_ones_go_least_recent_first(
    files: SharedCAFiles, pems: list[str]
) -> None:
    held = files.acquire(pems[0])
    leases = [files.acquire(pem) for pem in pems[1:]]
    for lease in leases:  # released in order 1, 2, 3, 4; two idle files may stay
        lease.release()
    assert [files.path_of(pem) is not None for pem in pems] == [True, False, False, True, True]
    assert not leases[0].path.exists()
    assert not leases[1].path.exists()
    assert held.path.exists()  # held through all of it
    held.release()  # now three idle: the least recently released (pems[3]) goes
    assert [files.path_of(pem) is not None for pem in pems] == [True, False, False, False, True]
    assert held.path.exists()


def test_release_is_idempotent_and_collection_releases(files: SharedCAFiles, pems: list[str]) -> None:
    lease = files.acquire(pems[0])
    other = files.acquire(pems[0])
    lease.release()
    lease.release()  # a second release must not take the other holder's reference
    assert files.holders(pems[0]) == 1
    del other
    gc.collect()
    assert files.holders(pems[0]) == 0


def test_concurrent_acquires_validate_and_write_once(files: SharedCAFiles, pems: list[str]) -> None:
    barrier = threading.Barrier(8)
    paths: list[Path] = []

    def take() -> None:
        barrier.wait()
        paths.append(files.acquire(pems[2]).path)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(paths)) == 1
    assert (files.validations, files.writes) == (1, 1)


def test_a_file_removed_behind_its_back_is_written_again(files: SharedCAFiles, pems: list[str]) -> None:
    lease = files.acquire(pems[0])
    lease.path.unlink()
    assert files.acquire(pems[0]).path.read_text() == pems[0]


def test_remove_all_removes_the_directory(pems: list[str]) -> None:
    files = SharedCAFiles()
    lease = files.acquire(pems[0])
    files.remove_all()
    assert not lease.path.parent.exists()
    lease.release()  # harmless afterwards
    assert files.acquire(pems[0]).path.read_text() == pems[0]  # and usable again
    files.remove_all()


def test_an_unusable_bundle_is_refused_and_not_kept(files: SharedCAFiles) -> None:
    bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match="CA bundle cannot be loaded"):
        files.acquire(bad)
    assert files.path_of(bad) is None


def test_check_ca_pem_loads_a_bundle_once(pems: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = make_ca("checked once")
    loads: list[str] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        loads.append(kwargs.get("cadata", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(ca_files.ssl, "create_default_context", counting)
    for _ in range(3):
        check_ca_pem(fresh)
    assert loads == [fresh]
    bad = fresh.replace("MII", "XXX", 1)
    for _ in range(2):  # failures are not remembered: each check fails again
        with pytest.raises(ValueError, match="cannot be loaded"):
            check_ca_pem(bad)
    assert len(loads) == 3


def test_requests_verify_shares_the_process_file(pems: list[str]) -> None:
    """RequestsVerify's API is unchanged; its file is the process's one for that PEM and outlives close()."""
    pem = make_ca("requests verify")
    assert RequestsVerify(None, False).value() is True
    assert RequestsVerify(pem, True).value() is False
    one, two = RequestsVerify(pem, False), RequestsVerify(pem, False)
    path = str(one.value())
    assert two.value() == path == str(CA_FILES.path_of(pem))
    assert CA_FILES.holders(pem) == 2
    one.close()
    one.close()
    assert CA_FILES.holders(pem) == 1
    two.close()
    assert Path(path).read_text() == pem  # idle, kept for the next client (the pool key stays the same)
    assert RequestsVerify(pem, False).value() == path
    with pytest.raises(ValueError, match="no PEM certificate"):
        RequestsVerify("not a bundle", False).value()


def test_files_are_removed_at_process_exit_even_while_held(pems: list[str], tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(pems[0])
    script = (
        "import sys, pathlib\n"
        "from horizon_publisher.clients.ca_files import RequestsVerify\n"
        "held = RequestsVerify(pathlib.Path(sys.argv[1]).read_text(), False)\n"
        "print(held.value())\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "ca.pem")], capture_output=True, check=True)
    path = Path(done.stdout.decode().strip())
    assert path.name.endswith(".pem")
    assert not path.parent.exists()
