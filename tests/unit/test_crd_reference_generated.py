"""docs/crd-reference.md's field tables are what scripts/crd_reference.py makes of crds/ (they cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_reference_tables_are_generated_from_the_schemas() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "crd_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_table_is_marked_as_generated() -> None:
    text = (ROOT / "docs" / "crd-reference.md").read_text()
    assert text.count("<!-- generated: ") == text.count("<!-- end generated -->") == 7
    assert text.count("| Field | Type | Default | Description |") == 7
