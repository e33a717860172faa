"""Suppression comments: ``# nnreg: ignore``, ``# nnreg: ignore[NR002]`` and ``# noqa: NR002``.

One reader for the analysis (which findings a comment silences) and for the report (codes nnreg does
not know, comments that silence nothing), so that both read a comment the same way. Codes are read
in any case (``# NOQA: nr002``); a comment whose codes cannot be read silences nothing and is warned
about, it never falls back to silencing everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .files import source_lines
from .findings import Finding
from .rules import RULES

_COMMENT = re.compile(r"#\s*(?:(?P<nnreg>nnreg\s*:\s*ignore)(?:\[(?P<listed>[^\]]*)\])?"
                      r"|(?P<noqa>noqa)\b(?P<colon>\s*:(?P<codes>[^#\n]*))?)", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]+")
_SEPARATORS = re.compile(r"[,\s]+")
_MAY_HOLD = re.compile(rb"noqa|nnreg", re.IGNORECASE)


FAMILY = "NR"  # codes of this prefix are nnreg's: in ``# noqa`` the others belong to other tools


@dataclass(frozen=True)
class Suppression:
    """One suppression comment. ``codes`` None silences every code; ``own`` says the comment is meant
    for nnreg (``# nnreg: ignore``, or a ``# noqa`` that names an NR code), so it can be unused."""

    line: int
    column: int
    text: str
    codes: frozenset[str] | None
    own: bool
    warnings: tuple[str, ...] = ()
    cell: int | None = None  # in a notebook: the cell, ``line`` being the line within it

    @property
    def position(self) -> str:
        """``line``, or ``cell N:line`` in a notebook, as findings are placed."""
        return str(self.line) if self.cell is None else f"cell {self.cell}:{self.line}"

    def silences(self, code: str) -> bool:
        return self.codes is None or code in self.codes

    def to_json(self) -> dict[str, Any]:
        """For the cache: a file the cache vouches for is not read again to find its comments."""
        return {"line": self.line, "column": self.column, "text": self.text,
                "codes": sorted(self.codes) if self.codes is not None else None, "own": self.own,
                "warnings": list(self.warnings), "cell": self.cell}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Suppression:
        codes = frozenset(data["codes"]) if data["codes"] is not None else None
        return cls(data["line"], data["column"], data["text"], codes, data["own"], tuple(data["warnings"]), data["cell"])


def _leading_codes(text: str) -> list[str]:
    """The codes a ``noqa:`` lists, as flake8 and ruff read them: up to the first word that is not one
    (``# noqa: BLE001 - why`` names BLE001)."""
    codes = []
    for word in _SEPARATORS.split(text.strip()):
        if not _CODE.fullmatch(word.upper()):
            break
        codes.append(word.upper())
    return codes


def _parsed(match: re.Match[str], line: int) -> Suppression:
    text = match.group(0).rstrip()
    column = match.start() + 1
    if match.group("nnreg"):
        if match.group("listed") is None:
            return Suppression(line, column, text, None, own=True)
        listed = [word.upper() for word in _SEPARATORS.split(match.group("listed").strip()) if word]
        known = frozenset(code for code in listed if code in RULES)
        warnings = _unknown(listed, text)
        if not listed:
            warnings = (f"`{text}` names no code: it suppresses nothing",)
        return Suppression(line, column, text, known, own=True, warnings=warnings)
    if match.group("colon") is None:
        return Suppression(line, column, text, None, own=False)  # a bare ``# noqa``: every code, as in flake8
    listed = _leading_codes(match.group("codes"))
    if not listed:
        return Suppression(line, column, text, frozenset(), own=False,
                           warnings=(f"`{text}` names no code nnreg can read: it suppresses nothing",))
    mine = [code for code in listed if code.startswith(FAMILY)]
    warnings = _unknown(mine, text)
    return Suppression(line, column, text, frozenset(c for c in mine if c in RULES), own=bool(mine), warnings=warnings)


def _unknown(codes: list[str], comment: str) -> tuple[str, ...]:
    return tuple(f"unknown code '{code}' in `{comment}`: it suppresses nothing" for code in codes if code not in RULES)


def on_line(text: str, line: int) -> list[Suppression]:
    """Every suppression comment on one line of source."""
    return [_parsed(match, line) for match in _COMMENT.finditer(text)]


def may_hold(data: bytes) -> bool:
    """Whether a file's bytes can hold a suppression comment: most files cannot, and are not decoded."""
    return _MAY_HOLD.search(data) is not None


def in_source(text: str) -> list[Suppression]:
    """The comments of a whole file that concern nnreg: its own (to find unused ones) and those with
    a code it cannot read (to warn)."""
    found = []
    for number, line in enumerate(source_lines(text), start=1):
        if "#" in line:
            found += [s for s in on_line(line, number) if s.own or s.warnings]
    return found


@dataclass(frozen=True)
class Unused:
    """A suppression comment meant for nnreg that silences no finding (``--warn-unused-suppressions``)."""

    path: str
    suppression: Suppression
    codes: tuple[str, ...]  # the codes it names that silence nothing; empty for ``# nnreg: ignore``

    def text(self) -> str:
        what = f"no {' or '.join(self.codes)} finding" if self.codes else "no finding"
        return (f"{self.path}:{self.suppression.position}:{self.suppression.column}: unused suppression "
                f"`{self.suppression.text}`: {what} on this line to suppress")


def unused(path: str, suppressions: Iterable[Suppression], findings: list[Finding],
           selects: Callable[[str], bool]) -> list[Unused]:
    """nnreg's own suppression comments that silence nothing. A code that is not selected is never
    reported: nnreg did not look for it, so it cannot say the comment is stale."""
    out = []
    for suppression in suppressions:
        if not suppression.own:
            continue
        used = {f.code for f in findings if f.status == "suppressed" and f.cell == suppression.cell
                and suppression.line in f.suppressed_by}
        if suppression.codes is None:
            if not used and all(selects(code) for code in RULES):
                out.append(Unused(path, suppression, ()))
            continue
        stale = tuple(sorted(code for code in suppression.codes if code not in used and selects(code)))
        if stale:
            out.append(Unused(path, suppression, stale))
    return out
