"""Private CA bundle files shared by every HTTP client of the process, and ``requests``' ``verify=`` value.

``requests`` takes a CA as a *path* (passed per request, because ``REQUESTS_CA_BUNDLE`` overrides
``Session.verify``), and urllib3 keys its connection pools on that path: a client that wrote its own temp
file could never reuse another client's connection, and paid for a validation, a file and a TLS handshake
on every reconcile. Here each distinct bundle (by sha256 of the PEM) is validated once and written once,
to ``<private dir>/<sha256>.pem`` (dir 0700, file 0600), a path that stays the same as long as the file
is kept.

Lifetime: :class:`SharedCAFiles` counts the holders of each file (:meth:`SharedCAFiles.acquire` returns a
:class:`CALease`; :meth:`CALease.release` or its garbage collection gives it back). A file nobody holds
stays as an *idle* file, reused as it is by the next holder; only when more than ``max_idle`` files are
idle are the least recently released ones removed. A file is never removed while held. The directory is
removed at process exit. Thread-safe.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import tempfile
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

MAX_IDLE_CA_FILES = 64  # far more distinct CAs than a cluster has: the common case never rewrites a file
MAX_KNOWN_GOOD = 256  # bundles remembered as loadable by check_ca_pem

_known_good: OrderedDict[str, None] = OrderedDict()  # sha256 of bundles that loaded, least recent first
_known_good_lock = threading.Lock()


def pem_digest(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


def check_ca_pem(pem: str) -> None:
    """``ValueError`` unless ``pem`` holds at least one certificate the ssl module can load.

    A bundle that loaded is remembered (by sha256): checking it again, as every reconcile does, costs a
    hash instead of an SSL context."""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError("no PEM certificate in the CA bundle")
    digest = pem_digest(pem)
    with _known_good_lock:
        if digest in _known_good:
            _known_good.move_to_end(digest)
            return
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as error:
        raise ValueError(f"the CA bundle cannot be loaded ({error.__class__.__name__})") from None
    with _known_good_lock:
        _known_good[digest] = None
        while len(_known_good) > MAX_KNOWN_GOOD:
            _known_good.popitem(last=False)


@dataclass
class _File:
    path: Path
    holders: int = 0


class CALease:
    """One holder's claim on a shared CA file; :meth:`release` is idempotent (also run at collection)."""

    def __init__(self, files: SharedCAFiles, digest: str, path: Path) -> None:
        self.path = path
        self._finalizer = weakref.finalize(self, files.release_digest, digest)

    def release(self) -> None:
        self._finalizer()

    @property
    def released(self) -> bool:
        return not self._finalizer.alive


class SharedCAFiles:
    """The process's CA files, one per distinct PEM; see the module docstring for the lifetime rules."""

    def __init__(self, max_idle: int = MAX_IDLE_CA_FILES) -> None:
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._idle: OrderedDict[str, None] = OrderedDict()  # digests nobody holds, least recently released first
        self._directory: Path | None = None
        self._cleanup: weakref.finalize[..., SharedCAFiles] | None = None
        self.validations = 0  # bundles checked with the ssl module (once per distinct PEM while kept)
        self.writes = 0  # files written

    def acquire(self, pem: str) -> CALease:
        """A lease on the file holding ``pem``, validated and written if not kept yet (``ValueError`` when the
        bundle is unusable, safe to show)."""
        digest = pem_digest(pem)
        with self._lock:
            entry = self._files.get(digest)
            if entry is None:
                self.validations += 1
                check_ca_pem(pem)  # under the lock: once per PEM, however many threads ask at once
                entry = self._files[digest] = _File(self._write(digest, pem))
            elif not entry.path.exists():  # removed behind our back (a /tmp cleaner): write it again
                entry.path = self._write(digest, pem)
            entry.holders += 1
            self._idle.pop(digest, None)
            return CALease(self, digest, entry.path)

    def release_digest(self, digest: str) -> None:
        """Give back one hold on the file of ``digest`` (leases call this; prefer :meth:`CALease.release`)."""
        with self._lock:
            entry = self._files.get(digest)
            if entry is None or entry.holders == 0:
                return
            entry.holders -= 1
            if entry.holders == 0:
                self._idle[digest] = None
                while len(self._idle) > self.max_idle:
                    oldest, _ = self._idle.popitem(last=False)
                    self._files.pop(oldest).path.unlink(missing_ok=True)

    def path_of(self, pem: str) -> Path | None:
        """Where ``pem`` is kept now (held or idle), else None."""
        with self._lock:
            entry = self._files.get(pem_digest(pem))
            return entry.path if entry is not None else None

    def holders(self, pem: str) -> int:
        with self._lock:
            entry = self._files.get(pem_digest(pem))
            return entry.holders if entry is not None else 0

    def remove_all(self) -> None:
        """Remove every file and the directory (process exit; tests). Leases still out become no-ops."""
        with self._lock:
            self._files.clear()
            self._idle.clear()
            if self._cleanup is not None:
                self._cleanup()
            self._directory = self._cleanup = None

    def _write(self, digest: str, pem: str) -> Path:
        if self._directory is None or not self._directory.is_dir():
            directory = tempfile.mkdtemp(prefix="horizon-publisher-ca-")  # mkdtemp makes it 0700
            self._directory = Path(directory)
            self._cleanup = weakref.finalize(self, shutil.rmtree, directory, True)  # also runs at exit
        path = self._directory / f"{digest}.pem"
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        self.writes += 1
        return path


CA_FILES = SharedCAFiles()


class RequestsVerify:
    """What ``requests`` takes as ``verify=`` for one endpoint: False when the user turned verification off
    for it, True for the system trust (``REQUESTS_CA_BUNDLE`` when set), else the path of the shared file
    holding the configured bundle (:data:`CA_FILES`), taken on first use and given back by :meth:`close`.

    Passed per request, because ``REQUESTS_CA_BUNDLE`` overrides ``Session.verify``. Thread-safe.
    """

    def __init__(self, ca_pem: str | None, insecure_skip_verify: bool, *, files: SharedCAFiles = CA_FILES) -> None:
        self._ca_pem = ca_pem
        self._insecure = insecure_skip_verify
        self._files = files
        self._lease: CALease | None = None
        self._lock = threading.Lock()

    def value(self) -> bool | str:
        """``ValueError`` (safe to show) when the configured bundle cannot be loaded."""
        if self._insecure:
            return False
        if self._ca_pem is None:
            return True
        with self._lock:
            if self._lease is None:
                self._lease = self._files.acquire(self._ca_pem)
            return str(self._lease.path)

    def close(self) -> None:
        """Give the file back (it stays for the next client unless too many are idle); idempotent."""
        with self._lock:
            if self._lease is not None:
                self._lease.release()
                self._lease = None
