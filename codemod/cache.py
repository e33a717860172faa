"""The per-file cache: an unchanged tree re-runs almost instantly (SPEC section 9).

Entries are JSON (never pickle: a cache folder can come from anywhere), one file per key, written
atomically. Keys are hashes of everything a result depends on; the caller builds them. A corrupt
entry or an unwritable folder costs a warning and a recomputation, never a crash or a wrong result.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import click

from . import __version__


def digest(*parts: str | bytes) -> str:
    """A stable hash of the parts (length-prefixed, so ("ab", "c") != ("a", "bc"))."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def code_version() -> str:
    """nnreg's version and a hash of its own modules: an editable install whose code changed (same
    version string) must not read results the old code wrote."""
    package = Path(__file__).parent
    return f"{__version__}-{digest(*(path.read_bytes() for path in sorted(package.glob('*.py'))))[:12]}"


class Cache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory / code_version()
        self.root = directory
        self._warned = False
        self._writable = True

    def _warn(self, message: str) -> None:
        if not self._warned:
            click.echo(f"nnreg: warning: cache {self.root}: {message}; continuing without it", err=True)
            self._warned = True

    def _path(self, kind: str, key: str) -> Path:
        return self.directory / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> Any | None:
        path = self._path(kind, key)
        try:
            with path.open(encoding="utf-8") as handle:
                entry = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._warn(f"unreadable entry {path.name} ({type(exc).__name__})")
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            self._warn(f"corrupt entry {path.name}")
            return None
        return entry.get("value")

    def put(self, kind: str, key: str, value: Any) -> None:
        if not self._writable:
            return
        path = self._path(kind, key)
        try:
            self._ensure_root()
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "value": value}, handle)
            os.replace(tmp, path)
        except OSError as exc:
            self._writable = False
            self._warn(f"cannot write ({exc.strerror or exc})")

    def _ensure_root(self) -> None:
        """The folder ignores itself, so it never shows up in ``git status``."""
        ignore = self.root / ".gitignore"
        if not ignore.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            ignore.write_text("# created by nnreg\n*\n")
