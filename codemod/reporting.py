"""Everything printed: the text and JSON reports, unified diffs that ``git apply`` accepts, the summary line."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, get_args

import click

from .findings import CONTAINER_ACTIONS, FileResult, Finding, Status
from .notebooks import changed_cells, is_notebook
from .rules import RULES
from .runtime import NOT_BUILT
from .suppression import Unused

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")
_STATUS_COLOURS = {"fixed": "green", "ambiguous": "yellow", "unsafe": "red", "unconfirmed": "yellow",
                   "suppressed": "bright_black"}


def _lines(text: str) -> list[str]:
    """Split on ``\\n`` only (``str.splitlines`` also splits on form feeds and would corrupt the diff)."""
    return _LINE.findall(text)


def unified_diff(result: FileResult) -> str:
    """A git-style diff of one file, with ``a/``/``b/`` paths relative to the repository root; for a
    notebook, a diff of each changed cell's source, for review (see ``notebook_diff``)."""
    if not result.changed or result.original is None or result.fixed is None:
        return ""
    if is_notebook(result.path):
        return notebook_diff(result.display, result.original, result.fixed)
    out: list[str] = [f"diff --git a/{result.display} b/{result.display}\n"]
    out += _hunks(result.original.decode(result.encoding), result.fixed.decode(result.encoding),
                  f"a/{result.display}", f"b/{result.display}")
    return "".join(out)


def notebook_diff(display: str, original: bytes, fixed: bytes) -> str:
    """The changed cells' sources, as ruff shows them (``a/nb.ipynb:cell 3``). A diff of the JSON would
    be unreadable and one of the sources cannot be applied to the file, so it says it is for review:
    ``nnreg fix`` writes the notebook."""
    out = [f"# {display}: notebook; the diff of its changed cells is for review (`nnreg fix` applies it, "
           f"`git apply` cannot)\n"]
    for cell, before, after in changed_cells(original, fixed):
        out += _hunks(before, after, f"a/{display}:cell {cell}", f"b/{display}:cell {cell}")
    return "".join(out)


def _hunks(before: str, after: str, old_label: str, new_label: str) -> list[str]:
    return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in difflib.unified_diff(_lines(before), _lines(after), old_label, new_label)]


def describe(finding: Finding) -> str:
    """What is wrong, in the words of the finding's rule."""
    return RULES[finding.code].message(finding)


_STATUS_WORDS = {"ambiguous": "ambiguous: not rewritten", "unsafe": "refused", "unconfirmed": "refuted at run time",
                 "suppressed": "suppressed"}
_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*\.\s*[A-Za-z_][A-Za-z0-9_]*")


def fold(line: str, width: int | None) -> str:
    """A long message line folded at spaces to ``width`` (the terminal's), continuation lines indented
    four more than the line; escape codes take no room. ``None``: as it is (not a terminal)."""
    if width is None or len(click.unstyle(line)) <= width:
        return line
    body = line.lstrip(" ")
    lead = line[: len(line) - len(body)]
    lines, current = [], lead
    for word in body.split(" "):
        if current.strip() and len(click.unstyle(f"{current} {word}")) > width:
            lines.append(current)
            current = f"{lead}    {word}"
        else:
            current = f"{current} {word}" if current.strip() else current + word
    return "\n".join([*lines, current])


def finding_text(finding: Finding, verbose: bool, color: bool | None, width: int | None = None) -> list[str]:
    """ruff's full format: the location and message, the source line with a caret under the
    attribute, the fix as ``help:``, and why a finding is not rewritten (every reason with ``-v``)."""
    fixable = finding.status == "fixed"
    mark = " [*]" if fixable else ""
    state = "" if fixable else f" ({_STATUS_WORDS[finding.status]})"
    if color and state:
        state = click.style(state, fg=_STATUS_COLOURS[finding.status])
    code = click.style(finding.code, fg="red", bold=True) if color else finding.code
    out = [fold(f"{finding.location}:{finding.column + 1}: {code}{mark} "
                f"{finding.class_name}.{finding.attribute} {describe(finding)}{state}", width)]
    if finding.source_line:
        gutter = " " * len(str(finding.line))
        target = _TARGET.match(finding.source_line, finding.column)
        caret = "^" * (len(target.group(0)) if target else 1)
        out += [f"{gutter} |", f"{finding.line} | {finding.source_line}",
                f"{gutter} | {' ' * finding.column}{click.style(caret, fg='red') if color else caret} {finding.code}",
                f"{gutter} |"]
    else:
        gutter = ""
    out.append(fold(f"{gutter} = help: {RULES[finding.code].help(finding)}", width))
    notes = [reason.text for reason in finding.reasons] if verbose else finding.held_back
    out += [fold(f"{gutter} = note: {reason}", width) for reason in notes]
    return out


def text_report(results: Iterable[FileResult], verbose: bool, color: bool | None, show_suppressed: bool = False,
                unused: Iterable[Unused] = (), width: int | None = None) -> str:
    """One block per finding, as ruff prints them (``--output-format full``), a blank line apart;
    suppressed findings are counted in the summary and listed only with ``--show-suppressed``; unused
    suppression comments (``--warn-unused-suppressions``) follow the findings of their file. Messages
    are folded to ``width`` (a terminal's); source lines never are."""
    stale: dict[str, list[Unused]] = {}
    for comment in unused:
        stale.setdefault(comment.path, []).append(comment)
    blocks: list[str] = []
    for result in results:
        blocks += [fold(line, width) for line in error_lines(result)]
        for finding in result.findings:
            if finding.status != "suppressed" or show_suppressed:
                blocks.append("\n".join(finding_text(finding, verbose, color, width)))
        blocks += [fold(comment.text(), width) for comment in stale.get(result.display, [])]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def error_lines(result: FileResult) -> list[str]:
    """The file's error, then each notebook cell that does not parse (``nb.ipynb:cell 4: error: ...``)."""
    return [f"{entry['path']}{_cell_suffix(entry)}: error: {entry['message']}" for entry in _errors(result)]


def _cell_suffix(entry: dict[str, Any]) -> str:
    return f":cell {entry['cell']}" if "cell" in entry else ""


def _errors(result: FileResult) -> list[dict[str, Any]]:
    """The error entries of the JSON report: the file's, and one per cell that does not parse."""
    entries: list[dict[str, Any]] = [{"path": result.display, "message": result.error}] if result.error else []
    return entries + [{"path": result.display, "cell": e.cell, "line": e.line, "message": e.message}
                      for e in result.cell_errors]


def statistics(results: list[FileResult]) -> str:
    """ruff's ``--statistics``: how many findings of each code and status, most first."""
    counts = Counter((f.code, f.status) for r in results for f in r.findings)
    width = max((len(str(n)) for n in counts.values()), default=1)
    return "".join(f"{n:>{width}}  {code}  {'[*]' if status == 'fixed' else '   '} {status:<11} {RULES[code].summary}\n"
                   for (code, status), n in sorted(counts.items(), key=lambda item: (
                       -item[1], item[0][0], get_args(Status).index(item[0][1]))))


def json_report(results: list[FileResult], unused: list[Unused] | None = None) -> str:
    """The JSON report; ``unused_suppressions`` only when they were looked for."""
    findings = [f.to_json() for r in results for f in r.findings]
    errors = [entry for r in results for entry in _errors(r)]
    summary = {"files": len(results), "changed_files": sum(r.changed for r in results), "findings": len(findings)}
    if any(r.probed for r in results):
        summary["probe"] = {**probe_counts(results), "not_built_classes": not_built(results)}
    report: dict[str, Any] = {"version": 1, "findings": findings, "errors": errors, "summary": summary}
    if unused is not None:
        report["unused_suppressions"] = [{"path": u.path, "line": u.suppression.line, "column": u.suppression.column,
                                          "cell": u.suppression.cell, "comment": u.suppression.text,
                                          "codes": list(u.codes)} for u in unused]
    return json.dumps(report, indent=2) + "\n"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(results: list[FileResult], written: bool) -> str:
    """``3 tensors registered in 2 files (2 buffers, 1 parameter); 1 ambiguous skipped; 140 files unchanged``."""
    findings = [f for r in results for f in r.findings]
    fixed = [f for r in results if not r.error for f in r.findings if f.status == "fixed"]  # not written: not counted
    changed = sum(r.changed for r in results)
    verb = "registered" if written else "would be registered"
    containers = sum(f.action in CONTAINER_ACTIONS for f in fixed)
    parts = [f"{_plural(len(fixed), 'attribute' if containers else 'tensor')} {verb}"]
    if fixed:
        buffers = sum(f.action == "buffer" for f in fixed)
        held = f", {_plural(containers, 'container')}" if containers else ""
        parts[0] += (f" in {_plural(changed, 'file')} ({_plural(buffers, 'buffer')}, "
                     f"{_plural(len(fixed) - buffers - containers, 'parameter')}{held})")
    for status, label in (("ambiguous", "ambiguous skipped"), ("unsafe", "unsafe refused"),
                          ("unconfirmed", "unconfirmed"), ("suppressed", "suppressed")):
        count = sum(f.status == status for f in findings)
        if count:
            parts.append(f"{count} {label}")
    errors = sum(len(_errors(r)) for r in results)
    if errors:
        parts.append(_plural(errors, "error"))
    unchanged = sum(not r.changed and not r.failed for r in results)
    parts.append(f"{_plural(unchanged, 'file')} unchanged")
    if fixed and not written:
        parts.append(f"{_plural(len(fixed), 'finding')} fixable with `nnreg fix`")
    probe = probe_counts(results)
    if probe["built"] or probe["not_built"]:
        not_built = sum(probe["not_built"].values())
        why = ", ".join(f"{count} {NOT_BUILT.get(code, code)}" for code, count in probe["not_built"].items())
        classes = "class" if probe["built"] == 1 else "classes"
        parts.append(f"probe: {probe['built']} {classes} built, {not_built} not built" +
                     (f" ({why})" if why else ""))
    return "; ".join(parts)


def probe_counts(results: list[FileResult]) -> dict[str, Any]:
    """How many classes ``--confirm`` built, and why the others were not, most common reason first."""
    outcomes = Counter(outcome["why"] for r in results for outcome in r.probed.values())
    built = outcomes.pop(None, 0)
    return {"built": built, "not_built": dict(outcomes.most_common())}


def not_built(results: list[FileResult]) -> list[dict[str, Any]]:
    """Every class the probe could not build, with the reason: the JSON report lists them all."""
    return [{"path": r.display, "class": name, "why": outcome["why"], "error": outcome["error"]}
            for r in results for name, outcome in sorted(r.probed.items()) if outcome["why"] is not None]


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _message(finding: Finding) -> str:
    """The message of SARIF and GitHub; a notebook's starts with the cell, which neither format can
    hold in a location."""
    headline = f"self.{finding.attribute} in {finding.class_name} {describe(finding)} ({finding.status})"
    if finding.cell is not None:
        headline = f"cell {finding.cell}, line {finding.line}: {headline}"
    return "; ".join([headline, *(reason.text for reason in finding.reasons[:3])])


def _uri(path: str) -> str:
    """A relative URI reference (RFC 3986): ``#``, ``%``, spaces and non-ASCII in a path percent-encoded,
    or code scanning cuts the path at ``#`` and misreads ``%``."""
    from urllib.parse import quote

    return quote(path, safe="/")


def sarif_report(results: list[FileResult]) -> str:
    """SARIF 2.1.0 with what GitHub code scanning needs: rules, repository-relative URIs, regions."""
    from . import __version__

    rules = [{"id": code, "name": rule.name, "shortDescription": {"text": rule.summary},
              "fullDescription": {"text": rule.description}, "help": {"text": rule.description},
              "defaultConfiguration": {"level": "warning"}} for code, rule in RULES.items()]
    sarif_results = []
    for result in results:
        for f in result.findings:
            entry: dict = {
                "ruleId": f.code, "ruleIndex": list(RULES).index(f.code),
                "level": "warning" if f.status in ("fixed", "ambiguous", "unsafe") else "note",
                "message": {"text": _message(f)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column + 1}}}],
                "properties": {"action": f.action, "status": f.status, "confidence": f.confidence,
                               "persistent": f.persistent},
            }
            if f.cell is not None:
                entry["properties"]["cell"] = f.cell
            if f.status == "suppressed":
                entry["suppressions"] = [{"kind": "inSource"}]
            sarif_results.append(entry)
    notifications = [{"level": "error", "message": {"text": _error_text(e)},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(e["path"]),
                                                                               "uriBaseId": "%SRCROOT%"}}}]}
                     for r in results for e in _errors(r)]
    run = {"tool": {"driver": {"name": "nnreg", "version": __version__, "semanticVersion": __version__,
                               "informationUri": "https://pypi.org/project/nnreg/", "rules": rules}},
           "invocations": [{"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}],
           "results": sarif_results}
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


def _error_text(entry: dict[str, Any]) -> str:
    return f"cell {entry['cell']}: {entry['message']}" if "cell" in entry else entry["message"]


GITHUB_ANNOTATION_LIMIT = 10


def _escape(text: str, property_value: bool = False) -> str:
    """GitHub workflow-command escaping (and ``:``/``,`` inside property values)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def github_report(results: list[FileResult]) -> tuple[str, str]:
    """Workflow annotations (the first ten, the rest counted) and the full list as markdown for
    ``$GITHUB_STEP_SUMMARY``."""
    findings = [f for r in results for f in r.findings if f.status != "suppressed"]
    lines = []
    for f in findings[:GITHUB_ANNOTATION_LIMIT]:
        level = "warning" if f.status in ("fixed", "unsafe", "ambiguous") else "notice"
        lines.append(f"::{level} file={_escape(f.path, True)},line={f.line},col={f.column + 1},"
                     f"title={f.code}::{_escape(_message(f))}")
    for r in results:
        for e in _errors(r):
            lines.append(f"::error file={_escape(r.display, True)},title=nnreg::{_escape(_error_text(e))}")
    hidden = len(findings) - GITHUB_ANNOTATION_LIMIT
    if hidden > 0:
        lines.append(f"::notice title=nnreg::{hidden} more findings are not annotated; see the job summary")
    table = ["## nnreg", "", "| file | line | class | attribute | code | change | status | confidence |",
             "| --- | ---: | --- | --- | --- | --- | --- | ---: |"]
    table += [f"| {f.path} | {f.position} | {f.class_name} | {f.attribute} | {f.code} | {f.action} | {f.status} | "
              f"{f.confidence:.2f} |" for f in findings]
    return "\n".join(lines) + ("\n" if lines else ""), "\n".join(table) + "\n"
