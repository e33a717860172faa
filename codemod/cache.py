"""The per-file cache: an unchanged tree re-runs almost instantly (SPEC section 9).

Entries are JSON (never pickle: a cache folder can come from anywhere), one file per key, written
atomically. Keys are hashes of everything a result depends on; the caller builds them. A corrupt
entry or an unwritable folder costs a warning and a recomputation, never a crash or a wrong result.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
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


KEEP_RUNS = 3  # entries and version folders no run among the last this many used are removed
SLACK = 1.0  # seconds: file times come from a coarser clock than time.time()


def code_version() -> str:
    """nnreg's version, the interpreter and libcst that parse (a file that "cannot parse" under 3.11
    may parse under 3.12), and a hash of nnreg's own modules (an editable install whose code changed
    under the same version string must not read results the old code wrote)."""
    package = Path(__file__).parent
    code = digest(*(path.read_bytes() for path in sorted(package.rglob('*.py'))))[:12]  # rules/ included
    python = f"{sys.implementation.name}{sys.version_info.major}.{sys.version_info.minor}"
    return f"{__version__}-{python}-libcst{importlib.metadata.version('libcst')}-{code}"


class Cache:
    """Entries under ``ROOT/<code_version>/KIND/``; ``prune`` keeps the folder proportional to the tree."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / code_version()
        self.root = directory
        self._warned = False
        self._writable = True
        self.started = time.time()  # this run's start: what ``runs.json`` records

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
        with contextlib.suppress(OSError):
            os.utime(path)  # used by this run: ``prune`` keeps it
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

    def _recent_runs(self) -> list[float]:
        """The start times of the last ``KEEP_RUNS`` runs, this one included (``runs.json``)."""
        try:
            runs = json.loads((self.root / "runs.json").read_text(encoding="utf-8"))
            runs = [float(t) for t in runs] if isinstance(runs, list) else []
        except (OSError, ValueError, TypeError):
            runs = []
        return sorted([*runs, self.started])[-KEEP_RUNS:]

    def oldest_kept(self) -> float:
        """What was last used before this time was used by none of the last ``KEEP_RUNS`` runs."""
        return self._recent_runs()[0] - SLACK

    def prune(self) -> None:
        """After a run: remove the entries, and the folders of other nnreg, Python or libcst versions,
        that none of the last ``KEEP_RUNS`` runs read or wrote (their start times are kept in
        ``runs.json``). A failure costs nothing but space."""
        if not self._writable or not self.root.is_dir():
            return
        runs = self._recent_runs()
        oldest = runs[0] - SLACK
        with contextlib.suppress(OSError):
            (self.root / "runs.json").write_text(json.dumps(runs), encoding="utf-8")
            for folder in self.root.iterdir():
                if folder.is_dir() and folder != self.directory and _last_used(folder) < oldest:
                    shutil.rmtree(folder, ignore_errors=True)
            for entry in self.directory.rglob("*.json"):
                if entry.stat().st_mtime < oldest:
                    entry.unlink(missing_ok=True)


def _last_used(folder: Path) -> float:
    """The newest entry of a version folder (its own mtime when empty)."""
    return max((entry.stat().st_mtime for entry in folder.rglob("*.json")), default=folder.stat().st_mtime)
