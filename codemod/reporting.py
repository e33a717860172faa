"""Everything printed: the text and JSON reports, unified diffs that ``git apply`` accepts, the summary line."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable

import click

from .findings import FileResult, Finding

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_STATUS_COLOURS = {"fixed": "green", "ambiguous": "yellow", "unsafe": "red", "unconfirmed": "yellow",
                   "suppressed": "bright_black"}


def _lines(text: str) -> list[str]:
    """Split on ``\\n`` only (``str.splitlines`` also splits on form feeds and would corrupt the diff)."""
    return _LINE.findall(text)


def unified_diff(result: FileResult) -> str:
    """A git-style diff of one file, with ``a/``/``b/`` paths relative to the repository root."""
    if not result.changed or result.original is None or result.fixed is None:
        return ""
    before = _lines(result.original.decode(result.encoding))
    after = _lines(result.fixed.decode(result.encoding))
    out: list[str] = [f"diff --git a/{result.display} b/{result.display}\n"]
    for line in difflib.unified_diff(before, after, f"a/{result.display}", f"b/{result.display}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def describe(finding: Finding) -> str:
    if finding.action == "parameter" or (finding.action == "skip" and finding.code == "NR001"):
        return "should be an nn.Parameter"
    return f"should be a buffer (persistent={finding.persistent})"


def text_report(results: Iterable[FileResult], verbose: bool, color: bool | None) -> str:
    """ruff-style lines: ``path:line:col: CODE message [status]``, reasons indented with -v."""
    out: list[str] = []
    for result in results:
        if result.error:
            out.append(f"{result.display}: error: {result.error}")
        for f in result.findings:
            status = click.style(f.status, fg=_STATUS_COLOURS[f.status]) if color else f.status
            out.append(f"{f.path}:{f.line}:{f.column + 1}: {f.code} {f.class_name}.{f.attribute} {describe(f)} "
                       f"[{status}, confidence {f.confidence:.2f}]")
            shown = f.reasons if verbose else [r for r in f.reasons if r.startswith(("refused:", "ambiguous"))]
            out.extend(f"    {reason}" for reason in shown)
    return "\n".join(out) + ("\n" if out else "")


def json_report(results: list[FileResult]) -> str:
    findings = [f.to_json() for r in results for f in r.findings]
    errors = [{"path": r.display, "message": r.error} for r in results if r.error]
    summary = {"files": len(results), "changed_files": sum(r.changed for r in results), "findings": len(findings)}
    return json.dumps({"version": 1, "findings": findings, "errors": errors, "summary": summary}, indent=2) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(results: list[FileResult], written: bool) -> str:
    """``3 tensors registered in 2 files (2 buffers, 1 parameter); 1 ambiguous skipped; 140 files unchanged``."""
    findings = [f for r in results for f in r.findings]
    fixed = [f for f in findings if f.status == "fixed"]
    changed = sum(r.changed for r in results)
    verb = "registered" if written else "would be registered"
    parts = [f"{_plural(len(fixed), 'tensor')} {verb}"]
    if fixed:
        buffers = sum(f.action == "buffer" for f in fixed)
        parts[0] += (f" in {_plural(changed, 'file')} ({_plural(buffers, 'buffer')}, "
                     f"{_plural(len(fixed) - buffers, 'parameter')})")
    for status, label in (("ambiguous", "ambiguous skipped"), ("unsafe", "unsafe refused"),
                          ("unconfirmed", "unconfirmed"), ("suppressed", "suppressed")):
        count = sum(f.status == status for f in findings)
        if count:
            parts.append(f"{count} {label}")
    errors = sum(r.error is not None for r in results)
    if errors:
        parts.append(_plural(errors, "error"))
    parts.append(f"{_plural(len(results) - changed - errors, 'file')} unchanged")
    return "; ".join(parts)
