"""Go's regular expressions (RE2) for CRD ``pattern`` and CEL ``matches()``, via google-re2.

Python's ``re`` would accept lookarounds and backreferences that the API server refuses, and
differs on a few classes; RE2 itself is what Go's ``regexp`` implements.
"""

from __future__ import annotations

import functools
from typing import Any

import re2  # google-re2 ships no type information (mypy override in pyproject.toml)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is reported to the caller, not printed to stderr

RegexError: type[Exception] = re2.error


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Any:
    """A compiled RE2 pattern (``.search(text)``); raises RegexError when Go would refuse it."""
    return re2.compile(pattern, _OPTIONS)


def regex_error_text(error: Exception) -> str:
    """re2's error as Go's regexp words the same refusal (``error parsing regexp: ...``)."""
    detail = error.args[0] if error.args else error
    text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
    return f"error parsing regexp: {text}"
