"""The sandbox ICR registry's tags, read straight from docker-registry's filesystem storage.

``GET /api/v1/images`` needs every (repository, tag, manifest digest). Reading the storage directory
avoids HTTP calls (and tokens) from the emulator to the registry on every listing, and cannot disagree
with what the registry serves: distribution keeps ``repositories/<name>/_manifests/tags/<tag>/current/link``
holding the tag's manifest digest, and writes it only once the manifest is stored.

Gaps: untagged manifests are not listed; this relies on distribution 2.8's storage layout (not an API).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from horizon_publisher.sandbox.ibmcloud_registry import ImageRow

REPOSITORIES = Path("docker", "registry", "v2", "repositories")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def storage_images(storage_root: Path) -> list[ImageRow]:
    """Every tag under ``storage_root`` (the registry's ``rootdirectory``), sorted by repository and tag."""
    top = storage_root / REPOSITORIES
    rows: list[ImageRow] = []
    for directory, subdirectories, _ in os.walk(top):
        if "_manifests" in subdirectories:
            repository = Path(directory).relative_to(top).as_posix()
            rows.extend(_tags(repository, Path(directory) / "_manifests" / "tags"))
        # Repository path components never start with "_": those are the registry's own directories.
        subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("_"))
    return sorted(rows)


def _tags(repository: str, tags_dir: Path) -> list[ImageRow]:
    try:
        tags = sorted(tags_dir.iterdir())
    except OSError:  # no tag yet (pushed by digest only)
        return []
    rows = []
    for tag_dir in tags:
        try:
            digest = (tag_dir / "current" / "link").read_text().strip()
        except OSError:  # a tag being deleted right now
            continue
        if _DIGEST.fullmatch(digest):
            rows.append(ImageRow(repository, tag_dir.name, digest))
    return rows
