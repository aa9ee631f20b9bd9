"""The log filter masks credentials whatever shape they take, and leaves ordinary text alone."""

from __future__ import annotations

import logging

import pytest

from horizon_publisher.logging_setup import RedactingFilter, redact

SECRET = "s3cr3t-VALUE-123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        f"headers={{'Authorization': 'Basic {SECRET}'}}",
        f'{{"password": "{SECRET}"}}',
        f"token={SECRET}",
        f"apikey: {SECRET}",
        f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET}\n-----END RSA PRIVATE KEY-----",
    ],
)
def test_redact_masks_credentials(text: str) -> None:
    assert SECRET not in redact(text)


@pytest.mark.parametrize("text", ["reconciled edgeserviceimage demo/web in 12 ms", "tokens: 3 rotated"])
def test_redact_leaves_plain_text(text: str) -> None:
    assert redact(text) == text


def test_filter_rewrites_records_with_args() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling with %s", (f"Bearer {SECRET}",), None)
    assert RedactingFilter().filter(record)
    assert SECRET not in record.getMessage()
