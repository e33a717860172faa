"""Spans: runs of whole top-level statements, the unit stage 2 parses, analyses and rewrites.

Stage 2's cost should follow the classes that may hold a finding, not the file around them. A
top-level statement starts at column 0 of its own line and ends with its last line, so the bytes of
a run of them form a module of their own: libcst parses just those lines, positions within them are
the file's once shifted by the lines above, and the rewritten text goes back between the same byte
offsets, leaving every other byte of the file (comments, line endings, encoding) as it was. The
whole file is simply the span of all its lines. Nothing here needs libcst: stage 1 records the
lines of the statements, stage 2 turns them into byte offsets.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True, order=True)
class Span:
    """Lines ``first`` to ``last`` (1-based, inclusive) of a source: whole top-level statements."""

    first: int
    last: int


def statement_lines(node: ast.stmt) -> tuple[int, int]:
    """The first and last line of a statement, its decorators included."""
    decorators = getattr(node, "decorator_list", None) or []
    first = min([node.lineno, *(decorator.lineno for decorator in decorators)])
    return first, node.end_lineno or node.lineno


def line_starts(data: bytes, skip: int = 0) -> list[int]:
    """The byte offset where each line starts, then the size of ``data``: lines as Python numbers them
    (broken at ``\\n``, ``\\r\\n`` and ``\\r`` only, which is where ``bytes.splitlines`` breaks them).
    ``skip`` bytes (a BOM) come before the first line."""
    return list(accumulate(map(len, data[skip:].splitlines(keepends=True)), initial=skip))


def logical_end(line: int, data: bytes, starts: list[int]) -> int:
    """The last physical line of the logical line whose statement ``ast`` ends on ``line``: a line that
    ends in a backslash joins the next one, and when that one is empty or only a comment ``ast`` does
    not count it, yet a span or an insertion that stops before it cuts the statement in two."""
    while line < len(starts) - 1 and data[starts[line - 1]:starts[line]].rstrip(b"\r\n").endswith(b"\\"):
        following = data[starts[line]:starts[line + 1]].strip()
        if following and not following.startswith(b"#"):
            break  # the backslash ended a comment: the next line is a statement of its own
        line += 1
    return line


def whole_lines(span: Span, data: bytes, starts: list[int]) -> Span:
    """The span with the lines its last statement's trailing backslash joins (see ``logical_end``)."""
    return Span(span.first, logical_end(span.last, data, starts))


def whole_file(starts: list[int]) -> Span:
    """The span of every line: analysing it is analysing the file."""
    return Span(1, len(starts) - 1)


def byte_range(span: Span, starts: list[int]) -> tuple[int, int]:
    """Where the span's bytes start and end (past its last line's line break, if it has one)."""
    return starts[span.first - 1], starts[span.last]


def splice(data: bytes, replacements: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, end, new)`` range replaced; the ranges do not overlap."""
    pieces: list[bytes] = []
    done = 0
    for start, end, new in sorted(replacements):
        pieces += [data[done:start], new]
        done = end
    pieces.append(data[done:])
    return b"".join(pieces)
