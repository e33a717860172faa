"""Reading sources faithfully and writing them back atomically (SPEC section 7).

A source is kept as the exact bytes read from disk; the text is only a decoded view. An unchanged
file is therefore never rewritten, and a changed one keeps its encoding and line endings because
libcst round-trips the bytes it was given.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path


class SourceError(Exception):
    """A file that cannot be read, decoded, parsed or written; reported, never fatal to the run."""


@dataclass(frozen=True)
class Source:
    """The bytes of a file known to decode; the text is decoded again on demand (memory matters
    more than the microseconds: a large tree holds every source at once)."""

    path: Path
    data: bytes
    encoding: str

    @property
    def text(self) -> str:
        return self.data.decode(self.encoding)

    @property
    def sha(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def decode_source(path: Path, data: bytes) -> Source:
    """Decode bytes the way Python would: BOM, then coding cookie, else UTF-8."""
    if b"\0" in data:
        raise SourceError("binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc):
            raise SourceError(str(exc)) from None
        encoding = "utf-8"  # undecodable first lines: the decode below says where
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not valid {encoding} at byte {exc.start} (add a coding cookie if the file uses another encoding)"
        ) from None
    return Source(path=path, data=data, encoding=encoding)


def read_source(path: Path) -> Source:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None
    return decode_source(path, data)


def write_atomic(path: Path, new_data: bytes, expected_old: bytes) -> None:
    """Replace ``path`` with ``new_data`` through a temporary file and a rename.

    Refuses when the file on disk no longer holds ``expected_old`` (someone edited it meanwhile),
    keeps the file's permission bits, and never leaves a partial file behind: a kill before the
    rename leaves the old file whole, after it the new one. A symlink stays a symlink: its target
    is what gets replaced.
    """
    path = path.resolve()
    try:
        current = path.read_bytes()
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise SourceError(f"cannot re-read before writing: {exc.strerror or exc}") from None
    if current != expected_old:
        raise SourceError("changed on disk since it was read; not overwritten")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".nnreg-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(new_data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException as exc:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise SourceError(f"cannot write: {exc.strerror or exc}") from None
        raise
