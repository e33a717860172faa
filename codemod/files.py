"""Reading sources faithfully and writing them back atomically (SPEC section 7).

A source is kept as the exact bytes read from disk; the text is only a decoded view. An unchanged
file is therefore never rewritten, and a changed one keeps its encoding and line endings because
libcst round-trips the bytes it was given. A notebook is a source whose bytes are the module of its
code cells (``notebooks.py``); the file's own bytes stay with it for the write-back.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from .notebooks import Notebook, NotebookError, is_notebook, parse_notebook


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """The lines of a source as Python and libcst number them: broken at ``\\n``, ``\\r\\n`` and ``\\r``
    only (``str.splitlines`` also breaks at form feeds and other separators, and would shift every later
    line against the positions libcst reports)."""
    return _LINE_BREAK.split(text)


class SourceError(Exception):
    """A file that cannot be read, decoded, parsed or written; reported, never fatal to the run."""


@dataclass(frozen=True)
class Source:
    """The bytes of a file known to decode; the text is decoded again on demand (memory matters
    more than the microseconds: a large tree holds every source at once)."""

    path: Path
    data: bytes  # the Python source analysed: the file's bytes, or a notebook's module
    encoding: str
    notebook: Notebook | None = None

    @property
    def text(self) -> str:
        return self.data.decode(self.encoding)

    @property
    def raw(self) -> bytes:
        """The file's bytes, as read: what a fix is written over."""
        return self.notebook.data if self.notebook is not None else self.data

    @property
    def sha(self) -> str:
        """Of the file's bytes: a notebook whose outputs changed is another file to write back."""
        return hashlib.sha256(self.raw).hexdigest()


def decode_source(path: Path, data: bytes) -> Source:
    """Decode bytes the way Python would: BOM, then coding cookie, else UTF-8. A notebook is JSON
    (UTF-8 by its format): its source is the module of its code cells."""
    if is_notebook(path):
        try:
            notebook = parse_notebook(data)
        except NotebookError as exc:
            raise SourceError(str(exc)) from None
        return Source(path=path, data=notebook.module.encode("utf-8"), encoding="utf-8", notebook=notebook)
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
    """Write ``new_data`` over ``path``, never leaving a partial file behind.

    Refuses a read-only file and one that no longer holds ``expected_old`` (someone edited it
    meanwhile). The new bytes go to a temporary file next to it first. Normally that file, given the
    old one's mode, owner and group, is renamed over it: a kill before the rename leaves the old file
    whole, after it the new one. When a rename would change what the file is (it has other hard
    links, or its owner or group cannot be given to a new file), the bytes are copied in place
    instead, and the temporary copy is removed only once they are all written: a kill in between
    leaves the complete new bytes beside the file. A symlink stays a symlink: its target is written.
    """
    path = path.resolve()
    try:
        current = path.read_bytes()
        info = path.stat()
    except OSError as exc:
        raise SourceError(f"cannot re-read before writing: {exc.strerror or exc}") from None
    if current != expected_old:
        raise SourceError("changed on disk since it was read; not overwritten")
    if not info.st_mode & 0o222 or not os.access(path, os.W_OK):  # root may write anything: read the bits too
        raise SourceError("read-only file; not overwritten")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".nnreg-tmp", dir=path.parent)
    in_place = False
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(new_data)
            tmp.flush()
            os.fsync(tmp.fileno())
        if info.st_nlink == 1 and _same_owner(tmp_name, info):
            os.chmod(tmp_name, stat.S_IMODE(info.st_mode))
            os.replace(tmp_name, path)
            return
        in_place = True
        _write_in_place(path, new_data)
        os.unlink(tmp_name)
    except BaseException as exc:
        if in_place:  # the file may be half-written: the complete new bytes stay beside it
            message = f"interrupted while writing in place; the complete new source is in {tmp_name}"
        else:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            message = f"cannot write: {getattr(exc, 'strerror', None) or exc}"
        if isinstance(exc, OSError):
            raise SourceError(message) from None
        raise


def _same_owner(tmp_name: str, info: os.stat_result) -> bool:
    """Give the new file the old one's owner and group; False when that is not allowed here."""
    created = os.stat(tmp_name)
    if (created.st_uid, created.st_gid) == (info.st_uid, info.st_gid):
        return True
    try:
        os.chown(tmp_name, info.st_uid, info.st_gid)
    except OSError:
        return False
    return True


def _write_in_place(path: Path, data: bytes) -> None:
    """Overwrite the file's own inode (hard links, owner and group stay as they are)."""
    with path.open("r+b") as handle:
        handle.write(data)
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
