"""What the cache knows of each file by its ``stat``: a warm run does not read files it has seen.

A row says "a file with this size, mtime, ctime and inode held bytes with this sha256", as black's
cache does. A run looks a file up here before reading it; a row that no longer matches the file's
``stat`` is ignored, and the file is read and hashed as if the table did not exist. The ctime is part
of the row because tools that put an old mtime back (``touch -d``, ``rsync -t``, ``cp -p``) cannot
put back the ctime.

A file changed within the clock tick of its read could keep its mtime, so a row is recorded only
for a file whose mtime is more than ``cache.SLACK`` older than the run (git's "racily clean" entries).
One table per root lives in the cache, as an entry like any other; rows no recent run used are
dropped with the cache's own pruning rule (``Cache.oldest_kept``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .cache import SLACK, Cache, digest

KIND = "stats"


@dataclass(frozen=True)
class FileStat:
    """The parts of a ``stat`` that change whenever a file's bytes can have."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileStat | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return cls(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)

    def fields(self) -> list[int]:
        """As a row stores them (``dataclasses.astuple`` deep-copies: too slow for every file of a tree)."""
        return [self.size, self.mtime_ns, self.ctime_ns, self.inode]


class StatTable:
    """The rows of one root, read once at the start of a run and written once at its end."""

    def __init__(self, cache: Cache, root: Path) -> None:
        self._cache = cache
        self._key = digest(KIND, str(root.absolute()))
        self._rows: dict[str, list] = {}  # absolute path -> [size, mtime_ns, ctime_ns, inode, sha, last used run]
        stored = cache.get(KIND, self._key)
        if isinstance(stored, dict):
            self._rows = {path: row for path, row in stored.items() if _well_formed(row)}
        self._changed = False

    def sha_of(self, path: Path, stat: FileStat | None) -> str | None:
        """The sha256 of the file's bytes, when its ``stat`` is the one recorded with them."""
        row = self._rows.get(str(path.absolute()))
        if stat is None or row is None or row[:4] != stat.fields():
            return None
        if row[5] != self._cache.started:
            row[5] = self._cache.started  # used by this run: kept by the pruning
            self._changed = True
        return str(row[4])

    def record(self, path: Path, stat: FileStat | None, sha: str) -> None:
        """``stat`` was taken before the bytes whose ``sha`` this is were read."""
        if stat is None or stat.mtime_ns >= (self._cache.started - SLACK) * 1e9:
            return  # written too recently: a change within the same clock tick would keep the mtime
        self._rows[str(path.absolute())] = [*stat.fields(), sha, self._cache.started]
        self._changed = True

    def save(self) -> None:
        """Write the table back without the rows that none of the last ``KEEP_RUNS`` runs used."""
        oldest = self._cache.oldest_kept()
        kept = {path: row for path, row in self._rows.items() if row[5] >= oldest}
        if self._changed or len(kept) != len(self._rows):
            self._cache.put(KIND, self._key, kept)


def _well_formed(row: object) -> bool:
    """A row as ``record`` writes it: a table from elsewhere costs its rows, never a crash."""
    return (isinstance(row, list) and len(row) == 6 and all(type(n) is int for n in row[:4])
            and isinstance(row[4], str) and isinstance(row[5], (int, float)))
