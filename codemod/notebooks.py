"""Jupyter notebooks as a source kind: code cells ⇄ one module, positions mapped back, write-back
that keeps everything but the changed cells' sources.

A notebook runs its code cells in order in one namespace, so it is analysed as one module made of
them: a class defined in one cell and subclassed in a later one is seen whole. IPython syntax
(``%magic``, ``%%cell magic``, ``!shell``, ``?obj``/``obj?``) is masked line by line with a
numbered ``pass`` so that the module parses, and restored byte for byte afterwards; a cell that
still does not parse is left out and reported on its own, and the other cells are still checked
and fixed. Between cells the module holds a numbered marker comment, by which a rewritten module
is cut back into cells.

Writing back splices the new ``source`` values into the file's own text, at the spans a small
position-keeping JSON walk finds: outputs, execution counts, ids, metadata, key order, escapes,
indentation and the trailing newline are never re-serialised, so they cannot change. Only the json
module is used: nbformat is a test dependency.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .discovery import project_root

if TYPE_CHECKING:
    from .findings import Finding

SUFFIX = ".ipynb"
# Cell magics whose body is Python that the cell runs (``%%time`` and friends); any other cell magic
# (``%%bash``, ``%%writefile``, ``%%html``, ...) makes the cell something else, left out like markdown.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_MARKER = re.compile(r"^# nnreg-cell (\d+)\n", re.MULTILINE)
_MASKED = re.compile(r"^[ \t]*pass  # nnreg-magic (\d+)(?=\r?\n|\Z)", re.MULTILINE)
_CELL_MAGIC = re.compile(r"%%(\w+)")
# IPython's line syntax at the start of a statement: magics, shell escapes, help, and
# assignments from a magic or a shell command (``files = !ls``).
_LINE_MAGIC = re.compile(r"[ \t]*(?:[%!?]|[\w.*%]+\?\??[ \t]*$|[\w.]+(?:[ \t]*,[ \t]*[\w.]+)*[ \t]*=[ \t]*[%!])")
_LINE_NUMBER = re.compile(r"\bline (\d+)\b")
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class NotebookError(Exception):
    """A file that is not a notebook nnreg can read, or a rewrite it cannot map back into cells."""


@dataclass(frozen=True)
class Cell:
    """One code cell as the module holds it."""

    index: int  # 1-based position among all the notebook's cells, markdown counted (``cells[index - 1]``)
    source: str  # as written in the notebook
    start: int  # the module line its first line is on
    masked: tuple[str, ...]  # the lines masked in it, by their number in the ``pass  # nnreg-magic N`` mask
    newline_added: bool  # its last line had no newline: the module adds one, the write-back takes it away


@dataclass(frozen=True)
class CellError:
    """A code cell that does not parse even with its IPython syntax masked: left out of the module."""

    cell: int
    line: int | None
    message: str


@dataclass(frozen=True)
class Notebook:
    data: bytes  # the file, as read
    module: str  # the code cells in order, masked, with markers between them
    cells: tuple[Cell, ...]  # the code cells in the module
    errors: tuple[CellError, ...]

    def locate(self, line: int) -> tuple[int, int]:
        """The cell and the line within it of a module line."""
        for cell in reversed(self.cells):
            if line >= cell.start:
                return cell.index, line - cell.start + 1
        return self.cells[0].index if self.cells else 1, line


def is_notebook(path: Path) -> bool:
    return path.suffix == SUFFIX


def module_name(path: Path) -> str:
    """The name a notebook goes by in the class index: its path within its project, which no import
    statement can spell, so that no other file resolves an import to it (a notebook is never
    imported), and two notebooks named alike in different folders stay apart. It is also the
    ``"path:Class"`` key of its classes' recipes for ``--confirm``."""
    path = Path(os.path.normpath(path.absolute()))
    root = project_root(path)
    return path.relative_to(root).as_posix() if root is not None else path.as_posix()


def parse_notebook(data: bytes) -> Notebook:
    """The module of a notebook's code cells, or NotebookError when the file is not a v4 notebook."""
    document = _load(data)
    metadata = document.get("metadata")
    info = metadata.get("language_info") if isinstance(metadata, dict) else None
    language = str(info.get("name", "python")).lower() if isinstance(info, dict) else "python"
    parts: list[str] = []
    cells: list[Cell] = []
    errors: list[CellError] = []
    masks: list[str] = []
    line = 1
    for position, raw in enumerate(document["cells"]):
        if raw.get("cell_type") != "code" or language != "python":
            continue
        source = _source_text(raw.get("source", ""), position + 1)
        text, masked, error = _python_of(source, len(masks))
        if error is not None:
            errors.append(replace(error, cell=position + 1))
            continue
        if text is None:
            continue
        if cells:
            parts.append(f"# nnreg-cell {position + 1}\n")
            line += 1
        added = bool(text) and not text.endswith("\n")
        text += "\n" if added else ""
        parts.append(text)
        cells.append(Cell(position + 1, source, line, masked, added))
        masks.extend(masked)
        line += text.count("\n")
    return Notebook(data, "".join(parts), tuple(cells), tuple(errors))


def _load(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotebookError(f"not a notebook: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        version = document.get("nbformat") if isinstance(document, dict) else None
        raise NotebookError("not a notebook: no list of cells" + (
            f" (nbformat {version}: convert it with `jupyter nbconvert --to notebook`)" if version else ""))
    if not all(isinstance(cell, dict) for cell in document["cells"]):
        raise NotebookError("not a notebook: a cell is not a JSON object")
    return document


def _source_text(source: Any, index: int) -> str:
    """nbformat's multiline string: one string, or a list of lines joined as they are."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise NotebookError(f"not a notebook: the source of cell {index} is neither a string nor a list of strings")


def _python_of(source: str, first_mask: int) -> tuple[str | None, tuple[str, ...], CellError | None]:
    """The cell as Python (None for a cell that runs something else, like ``%%bash``), the lines
    masked in it, or why it does not parse. Cells that parse as they are are never masked."""
    failure = _parse_error(source)
    if failure is None:
        return source, (), None
    lines = source.splitlines(keepends=True)
    first = next((number for number, line in enumerate(lines) if line.strip()), 0)
    magic = _CELL_MAGIC.match(lines[first]) if lines else None
    if magic and magic.group(1) not in PYTHON_CELL_MAGICS:
        return None, (), None
    masked: list[str] = []
    out: list[str] = []
    continued: str | None = None  # the indentation of a masked line that ends with a backslash
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        is_magic = number == first and magic is not None or _LINE_MAGIC.match(body) is not None
        if continued is None and not is_magic:
            out.append(line)
            continue
        indent = continued if continued is not None else body[:len(body) - len(body.lstrip(" \t"))]
        out.append(f"{indent}pass  # nnreg-magic {first_mask + len(masked)}{line[len(body):]}")
        masked.append(body)
        continued = indent if body.endswith("\\") else None
    text = "".join(out)
    failure = _parse_error(text) if masked else failure
    if failure is not None:
        return None, (), failure
    return text, tuple(masked), None


def _parse_error(text: str) -> CellError | None:
    try:
        ast.parse(text)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return CellError(0, exc.lineno, f"cannot parse{where}: {exc.msg}")
    except ValueError as exc:  # null bytes
        return CellError(0, None, f"cannot parse: {exc}")
    return None


def place(notebook: Notebook, finding: Finding) -> Finding:
    """A finding at its cell and the line within it. The line numbers its reasons quote are mapped
    too: a line of the joined module means nothing to the notebook's reader."""
    cell, line = notebook.locate(finding.line)

    def mapped(reason: str) -> str:
        def one(match: re.Match[str]) -> str:
            at_cell, at_line = notebook.locate(int(match.group(1)))
            return f"line {at_line} of cell {at_cell}"
        return _LINE_NUMBER.sub(one, reason)

    return replace(finding, cell=cell, line=line,
                   reasons=[replace(reason, text=mapped(reason.text)) for reason in finding.reasons],
                   held_back=[mapped(r) for r in finding.held_back],
                   suppressed_by=[notebook.locate(number)[1] for number in finding.suppressed_by])


def write_back(notebook: Notebook, fixed_module: str) -> bytes:
    """The notebook file with the sources of the cells the rewrite changed, and nothing else changed."""
    texts = _split(notebook, fixed_module)
    masks = [line for cell in notebook.cells for line in cell.masked]
    sources: dict[int, str] = {}
    for cell, text in zip(notebook.cells, texts, strict=True):
        text = _MASKED.sub(lambda match: masks[int(match.group(1))], text)
        if cell.newline_added and text.endswith("\n"):
            text = text[:-1]
        if text != cell.source:
            sources[cell.index - 1] = text
    return splice(notebook.data, sources) if sources else notebook.data


def _split(notebook: Notebook, module: str) -> list[str]:
    pieces = _MARKER.split(module)
    if [int(n) for n in pieces[1::2]] != [cell.index for cell in notebook.cells[1:]]:
        raise NotebookError("internal error: the rewritten module no longer shows where its cells begin; "
                            "notebook left unchanged")
    return pieces[0::2]


def splice(data: bytes, sources: dict[int, str]) -> bytes:
    """``data`` with the ``source`` of each cell in ``sources`` (by 0-based position) replaced, in the
    form and layout the old value had (a list of lines or one string, its indentation, its escapes)."""
    text = data.decode("utf-8")
    spans = source_spans(text)
    ascii_only = _escapes_non_ascii(text)
    out, last = [], 0
    for position in sorted(sources):
        start, end = spans[position]
        out += [text[last:start], _render(text, start, end, sources[position], ascii_only)]
        last = end
    new = "".join(out) + text[last:]
    expected = json.loads(text)
    for position, source in sources.items():
        old = expected["cells"][position]["source"]
        expected["cells"][position]["source"] = source if isinstance(old, str) else source.splitlines(keepends=True)
    if json.loads(new) != expected:
        raise NotebookError("internal error: the rewritten notebook would not read back as written; "
                            "notebook left unchanged")
    return new.encode("utf-8")


def _escapes_non_ascii(text: str) -> bool:
    """Was the file written with ``ensure_ascii`` (``\\u00e9`` rather than ``é``)? Jupyter writes
    characters as they are; a file with none either way is written as Jupyter would."""
    return text.isascii() and re.search(r"(?<!\\)\\u(?!00[0-7][0-9a-fA-F])[0-9a-fA-F]{4}", text) is not None


def _render(text: str, start: int, end: int, source: str, ascii_only: bool) -> str:
    old = text[start:end]
    if old.startswith('"'):
        return json.dumps(source, ensure_ascii=ascii_only)
    items = [json.dumps(line, ensure_ascii=ascii_only) for line in source.splitlines(keepends=True)]
    if not items:
        return "[]"
    if "\n" not in old and old != "[]":
        return "[" + ", ".join(items) + "]"
    key_indent = _indent_of_line(text, start)
    first = re.match(r"\[[ \t\r]*\n([ \t]*)", old)
    closing = re.search(r"\n([ \t]*)\]\Z", old)
    item_indent = first.group(1) if first else key_indent + json_indent(text)
    close_indent = closing.group(1) if closing else key_indent
    return "[\n" + ",\n".join(item_indent + item for item in items) + "\n" + close_indent + "]"


def _indent_of_line(text: str, position: int) -> str:
    line_start = text.rfind("\n", 0, position) + 1
    line = text[line_start:position]
    return line[:len(line) - len(line.lstrip(" \t"))]


def json_indent(text: str) -> str:
    """The file's indentation step: that of its first key (Jupyter writes one space)."""
    match = re.search(r"\n([ \t]+)\"", text)
    return match.group(1) if match else " "


def source_spans(text: str) -> list[tuple[int, int]]:
    """Where each cell's ``source`` value lies in the text, by cell position: the json module's own
    scanner finds where each value ends (a cell is walked once, not walked and then scanned again), and
    only the path ``cells[i].source`` is kept."""
    spans: list[tuple[int, int]] = []
    top, _ = _members(text, _skip(text, 0))
    for key, value, _ in top:
        if key != "cells":
            continue
        position = _skip(text, value + 1)
        while text[position] != "]":
            cell, end = _members(text, position)
            spans.append(next(((start, stop) for name, start, stop in cell if name == "source"), (0, 0)))
            position = _skip(text, end)
            position = _skip(text, position + 1) if text[position] == "," else position
    return spans


def _members(text: str, position: int) -> tuple[list[tuple[str, int, int]], int]:
    """``(key, value start, value end)`` of each member of the object at ``position``, and where the
    object ends."""
    scan = json.JSONDecoder().scan_once
    found = []
    position = _skip(text, position + 1)
    while text[position] != "}":
        key, position = json.decoder.scanstring(text, position + 1)  # type: ignore[attr-defined]
        position = _skip(text, _skip(text, position) + 1)  # the colon
        _, end = scan(text, position)
        found.append((key, position, end))
        position = _skip(text, end)
        position = _skip(text, position + 1) if text[position] == "," else position
    return found, position + 1


def _skip(text: str, position: int) -> int:
    return _WHITESPACE.match(text, position).end()  # type: ignore[union-attr]


def changed_cells(original: bytes, fixed: bytes) -> list[tuple[int, str, str]]:
    """``(cell, old source, new source)`` of every cell whose source differs, for the review diff."""
    before = json.loads(original.decode("utf-8"))["cells"]
    after = json.loads(fixed.decode("utf-8"))["cells"]
    return [(position + 1, _source_text(old.get("source", ""), position + 1),
             _source_text(new.get("source", ""), position + 1))
            for position, (old, new) in enumerate(zip(before, after, strict=True))
            if old.get("source") != new.get("source")]
