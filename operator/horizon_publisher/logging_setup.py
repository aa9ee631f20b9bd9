"""Logging that cannot leak a credential.

Secrets are kept out of messages by construction (we never format them), and this filter is the
second line of defence: it masks anything that looks like a bearer token, a basic-auth header, a
password field or a PEM private key, whatever logger it comes from (kopf, urllib3, our own).
"""

from __future__ import annotations

import logging
import re

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic)\s+)[^\s'\",}]+"), r"\1***"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1***"),
    (
        re.compile(r"(?i)(['\"]?(?:password|token|apikey|api_key|secret)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"),
        r"\1***",
    ),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), "***"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# kopf logs every run of an event-watching handler at INFO; ours run on every image and publication event.
QUIET_SUCCESSES = frozenset({"Handler 'image_changed' succeeded.", "Handler 'publication_seen' succeeded."})


class QuietSuccessFilter(logging.Filter):
    """Drops kopf's INFO line for each successful run of the handlers in :data:`QUIET_SUCCESSES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO and record.name == "kopf.objects" and record.msg in QUIET_SUCCESSES)


def configure_logging(*, verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(QuietSuccessFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # urllib3 logs full URLs at DEBUG; keep it quiet even in verbose mode.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
