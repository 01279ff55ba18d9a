"""What the CLI tests compare before and after a command: the bytes of every file."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(path: Path) -> dict[str, str]:
    """SHA-256 of every file under ``path`` (or of ``path`` itself, a file), by relative name."""
    if not path.is_dir():
        return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
