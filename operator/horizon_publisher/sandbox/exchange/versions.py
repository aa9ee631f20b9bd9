"""Service ids, versions and OSGi version ranges, with the semantics of exchange-api's ``ServicesTQ.formId``,
``utility/Version.scala`` and ``utility/VersionRange.scala``."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SCHEME = re.compile(r"^[A-Za-z0-9+.-]*?://")
_TROUBLESOME = re.compile(r"[$!*,;/?@&~=%]")
# Java's \d is ASCII-only; Python's would also match other scripts' digits.
_R3 = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")
_R2 = re.compile(r"([0-9]+)\.([0-9]+)")
_R1 = re.compile(r"([0-9]+)")
_JAVA_DOT = r"[^\n\r\u0085\u2028\u2029]"  # what Java's "." matches
_FLOOR = re.compile(rf"([\[(]?)([0-9]{_JAVA_DOT}*)")
_CEILING_NUMBER = re.compile(rf"({_JAVA_DOT}*[0-9])([\])]?)")
_CEILING_INFINITY = re.compile(r"(infinity)([\])]?)")
_JAVA_SPACE_COMMA = re.compile(r"[ \t\n\x0b\f\r]*,[ \t\n\x0b\f\r]*")
_INT_MAX = 2**31 - 1


def url_part_of_id(url: str) -> str:
    """The url as it appears in a service id: scheme stripped, each of ``$!*,;/?@&~=%`` replaced by ``-``."""
    return _TROUBLESOME.sub("-", _SCHEME.sub("", url, count=1))


def service_id(url: str, version: str, arch: str) -> str:
    """``<url'>_<version>_<arch>``, version and arch untouched (the id without its org)."""
    return f"{url_part_of_id(url)}_{version}_{arch}"


def form_service_id(org: str, url: str, version: str, arch: str) -> str:
    """The full resource name ``org/<url'>_<version>_<arch>``."""
    return f"{org}/{service_id(url, version, arch)}"


def java_trim(text: str) -> str:
    """``String.trim``: strips every char <= U+0020 at both ends, and nothing else."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


@dataclass(frozen=True)
class Version:
    """``N``, ``N.N``, ``N.N.N`` (missing parts are 0) or ``infinity``, after trim and lowercase."""

    major: int
    minor: int
    mod: int
    infinity: bool = False

    @staticmethod
    def parse(text: str) -> Version | None:
        """None when invalid. (The real server answers 502 for a part beyond Int.MaxValue; here it is invalid.)"""
        cleaned = java_trim(text).lower()
        if cleaned == "infinity":
            return Version(0, 0, 0, infinity=True)
        for pattern in (_R3, _R2, _R1):
            match = pattern.fullmatch(cleaned)
            if match:
                parts = [int(group) for group in match.groups()] + [0, 0]
                if any(part > _INT_MAX for part in parts):
                    return None
                return Version(parts[0], parts[1], parts[2])
        return None

    def key(self) -> tuple[int, int, int, int]:
        return (1, 0, 0, 0) if self.infinity else (0, self.major, self.minor, self.mod)

    def __str__(self) -> str:
        return "infinity" if self.infinity else f"{self.major}.{self.minor}.{self.mod}"


def is_valid_version(text: str) -> bool:
    return Version.parse(text) is not None


def _java_split_on_comma(text: str) -> list[str]:
    """``String.split("\\s*,\\s*")``: no match gives the whole text; otherwise trailing empty parts go."""
    if not _JAVA_SPACE_COMMA.search(text):
        return [text]
    parts = _JAVA_SPACE_COMMA.split(text)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


@dataclass(frozen=True)
class VersionRange:
    """An OSGi range such as ``[1.0.0,2.0.0)``; a bare version ``1.0.0`` means ``[1.0.0,infinity)``."""

    floor: Version | None
    floor_inclusive: bool
    ceiling: Version | None
    ceiling_inclusive: bool
    valid_text: bool

    @staticmethod
    def parse(text: str) -> VersionRange:
        parts = _java_split_on_comma(java_trim(text).lower())
        if len(parts) == 1:
            first, second = parts[0], "infinity"
        elif len(parts) == 2:
            first, second = parts
        else:
            first, second = "x", "x"
        floor_inclusive = False
        floor: Version | None
        if first == "":
            floor_inclusive, floor = True, Version(0, 0, 0)
        elif match := _FLOOR.fullmatch(first):
            floor_inclusive, floor = match.group(1) != "(", Version.parse(match.group(2))
        else:
            floor = None
        ceiling_inclusive = True
        ceiling: Version | None = None
        for pattern in (_CEILING_NUMBER, _CEILING_INFINITY):
            if match := pattern.fullmatch(second):
                ceiling, ceiling_inclusive = Version.parse(match.group(1)), match.group(2) == "]"
                break
        valid_text = java_trim(first) != "" and java_trim(second) != ""
        return VersionRange(floor, floor_inclusive, ceiling, ceiling_inclusive, valid_text)

    @property
    def is_valid(self) -> bool:
        return self.valid_text and self.floor is not None and self.ceiling is not None

    def includes(self, version: Version) -> bool:
        if not self.is_valid:
            return False
        assert self.floor is not None
        assert self.ceiling is not None
        low, high, value = self.floor.key(), self.ceiling.key(), version.key()
        above_floor = value >= low if self.floor_inclusive else value > low
        below_ceiling = value <= high if self.ceiling_inclusive else value < high
        return above_floor and below_ceiling

    def single_version(self) -> Version | None:
        if self.floor is not None and self.floor == self.ceiling:
            return self.floor
        return None


def version_in_range(version: str, version_range: str) -> bool:
    """``Version(v) in VersionRange(r)``: false when either is invalid."""
    parsed = Version.parse(version)
    return parsed is not None and VersionRange.parse(version_range).includes(parsed)
