"""The libcst stage for one file: parse of the spans that hold candidate classes, fact collection,
decisions and the rewritten bytes.

Only the top-level statements that hold a class nnreg may touch are parsed (``codemod/spans.py``):
stage 2 costs what those classes cost, not what the file around them does. Kept apart from the
pipeline so that importing libcst is paid only by runs that reach this stage.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

from .analysis import ClassFacts, analyse_class, module_classes
from .config import Options
from .decision import candidate_names
from .files import Source, source_lines
from .findings import CONTAINER_ACTIONS, Finding
from .imports import ImportTable
from .index import ClassIndex, ClassSummary, FileSummary, module_of
from .reasons import Reason
from .rewrite import SpellingError, spellings, torch_import
from .rules import CONTAINER_CODES, check_class, may_hold_finding, rewrite_findings
from .runtime import ProbeRunner
from .spans import Span, byte_range, line_starts, splice, whole_lines
from .style import file_style
from .tracing import TraceEvidence


class _Shifted(Mapping[cst.CSTNode, CodeRange]):
    """A span's positions as lines of the file: the span's first line is the file's ``lines + 1``;
    columns need no change, since a span starts at the start of a line."""

    def __init__(self, positions: Mapping[cst.CSTNode, CodeRange], lines: int) -> None:
        self.positions, self.lines = positions, lines

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self.positions[node]
        return CodeRange(CodePosition(found.start.line + self.lines, found.start.column),
                         CodePosition(found.end.line + self.lines, found.end.column))

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self.positions)

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(eq=False)
class _Parsed:
    """A span as libcst parsed it, and where its bytes lie in the file."""

    start: int
    end: int
    text: str  # the span's source, as parsed
    module: cst.Module
    positions: Mapping[cst.CSTNode, CodeRange]


@dataclass(frozen=True)
class Layout:
    """Where the lines of a source start in its bytes, and the codec of its text (a BOM is not text)."""

    starts: list[int]
    codec: str

    @classmethod
    def of(cls, source: Source) -> Layout:
        bom = source.encoding == "utf-8-sig"  # what ``tokenize.detect_encoding`` says of a file with a BOM
        return cls(line_starts(source.data, 3 if bom else 0), "utf-8" if bom else source.encoding)


def class_spans(summary: FileSummary, index: ClassIndex, layout: Layout, options: Options,
                typed_at_runtime: bool) -> list[Span]:
    """The spans stage 2 parses: the top-level statements holding the classes nnreg may touch that
    stage 1 says may hold a finding of an enabled rule (``rules.may_hold_finding``), in order; every
    module class of the file when runtime evidence types what ``ast`` cannot (``typed_at_runtime``:
    ``--confirm`` and ``nnreg trace``). The one span of the whole file (``spans.whole_file(layout.starts)``, which is why
    the layout is passed) gives the same results at the cost of parsing everything:
    tests/test_spans.py holds the two to that."""
    return sorted({Span(*lines) for c in summary.classes.values()
                   if index.is_module_class(c) and not index.moves_own_tensors(c)
                   and (typed_at_runtime or may_hold_finding(c, index, options)) for lines in c.statements})


def analyse_source(source: Source, summary: FileSummary, index: ClassIndex, options: Options, display: str,
                   runtime: ProbeRunner | TraceEvidence | None = None
                   ) -> tuple[list[Finding], bytes | None, str | None, dict[str, dict[str, str | None]]]:
    """Findings (sorted by position), the fixed bytes (None when nothing changes), an error, and for each
    class the probe looked at, why it was not built (a ``runtime.NOT_BUILT`` code and the error), or
    None for both when it was.

    Only the spans of ``class_spans`` are parsed. With a ``ProbeRunner``, the probe runs the module
    before deciding (only classes with a static finding or a value only runtime can type), and again
    on the rewritten source: a class whose rewrite fails that check keeps its code, and its findings
    become ``unsafe``. With the evidence of ``nnreg trace``, the traced run's observations decide
    alike, and nothing runs.
    """
    layout = Layout.of(source)
    parsed: list[_Parsed] = []
    for span in class_spans(summary, index, layout, options, runtime is not None):
        start, end = byte_range(whole_lines(span, source.data, layout.starts), layout.starts)
        text = source.data[start:end].decode(layout.codec)
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:
            return [], None, f"cannot parse (line {exc.raw_line + span.first - 1}): {exc.message}", {}
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        parsed.append(_Parsed(start, end, text, module, _Shifted(positions, span.first - 1)))
    lines = source_lines(source.text)
    classes = [(span, class_summary, analyse_class(node, class_summary, summary, index, span.positions, lines))
               for span in parsed for node, class_summary in module_classes(span.module, summary, index)]
    decided = [check_class(facts, index, options, display) for _, _, facts in classes]  # a class may be defined twice
    reports: dict[str, Any] | None = None
    if isinstance(runtime, TraceEvidence):
        reports = runtime.reports(source.path)
    elif runtime is not None:
        requests = _requests(runtime, summary, classes, decided)
        reports = runtime.run(module_of(source.path)[1], summary.module, source.path, requests, source.text,
                              source.notebook is not None) if requests else {}
    for position, (_, class_summary, facts) in enumerate(classes):  # what runtime saw of a class decides it again
        if reports and class_summary.qualname in reports:
            decided[position] = check_class(facts, index, options, display, reports[class_summary.qualname])
    owned = [(finding, span) for (span, _, _), found in zip(classes, decided, strict=True)
             for finding in found if options.selects(finding.code)]
    owned.sort(key=lambda pair: (pair[0].line, pair[0].column))
    findings = [finding for finding, _ in owned]
    for finding in findings:
        finding.source_line = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if source.notebook is not None else 0  # a cell may ``await``
    fixed, error = _rewrite(source, layout, owned, summary.imports, options, display, flags)
    if fixed is not None and isinstance(runtime, ProbeRunner) and reports is not None:
        failed = verify(runtime, source, summary, findings, reports, fixed, options)
        if failed:
            fixed, error = _rewrite(source, layout, owned, summary.imports, options, display, flags)
    if isinstance(runtime, TraceEvidence):
        return findings, fixed, error, {}
    probed = {name: {"why": None, "error": None} if report.get("built") else
              {"why": report.get("why", "raised"), "error": report.get("error")}
              for name, report in (reports or {}).items()}
    return findings, fixed, error, probed


def _requests(runtime: ProbeRunner, summary: FileSummary, classes: list[tuple[_Parsed, ClassSummary, ClassFacts]],
              decided: list[list[Finding]]) -> list[dict[str, Any]]:
    """The classes worth running: those with a static finding to confirm or verify, or a value only the
    probe can type. A file whose candidates are all settled statically is not run at all."""
    requests = []
    for (_, class_summary, facts), found_here in zip(classes, decided, strict=True):
        unknown = [name for name, c in facts.containers.items()  # elements only runtime can type
                   if any(e.kind == "unknown" for h in c.holdings for e in h.elements)]
        containers = sorted(set(unknown) | {f.attribute for f in found_here if f.code in CONTAINER_CODES})
        names = candidate_names(facts) + containers
        untyped = bool(unknown) or any(a.info.kind == "possible" for a in facts.assignments if a.attribute in names)
        found = any(f.status != "suppressed" for f in found_here)
        if names and (untyped or found):
            requests.append(runtime.settings.request(summary.module, class_summary.qualname, names))
    return requests


def _rewrite(source: Source, layout: Layout, owned: list[tuple[Finding, _Parsed]], imports: ImportTable,
             options: Options, display: str, flags: int = 0) -> tuple[bytes | None, str | None]:
    """The fixed bytes for the findings still to apply (each with the span it is in), or None; refusals
    are recorded on them.
    Each span with an edit is rewritten and spliced back; ``flags`` are the compiler's for the check
    that a rewritten span compiles. A missing ``import torch`` goes in last: it sits above every class,
    in bytes no rewrite changes, so its offset in the original bytes holds in the fixed ones too."""
    todo: dict[_Parsed, list[Finding]] = {}
    for finding, span in owned:
        if finding.action != "skip" and finding.edits:
            todo.setdefault(span, []).append(finding)
    if not todo:
        return None, None
    try:
        names = spellings(imports, [edit for found in todo.values() for f in found for edit in f.edits],
                          options.buffer_style)
    except SpellingError as exc:
        for finding, _ in owned:
            if finding.action != "skip":
                finding.reasons.append(Reason.of("R-SPELLING", f"refused: {exc}"))
                finding.conclude(options)
        return None, None
    style = file_style(source.text)
    replacements = []
    for span, found in todo.items():
        code = _with_final_break(span.text, rewrite_findings(span.module, found, names, style, options).code)
        try:
            compile(code, display, "exec", flags=flags, dont_inherit=True)
        except SyntaxError as exc:
            return None, f"internal error: the rewrite would not compile ({exc.msg}); file left unchanged"
        replacements.append((span.start, span.end, code.encode(layout.codec)))
    fixed = splice(source.data, replacements)
    added = torch_import(source.data, layout.starts, imports.block, style, layout.codec) if names.needs_import else None
    return (splice(fixed, [(added[0], added[0], added[1])]) if added else fixed), None


def _with_final_break(original: str, code: str) -> str:
    """``code`` ending in the line break ``original`` ends in. libcst drops the break after a span whose
    last line is a comment ending in a backslash (``# C:\\``), and the next statement would join it."""
    for newline in ("\r\n", "\n", "\r"):
        if original.endswith(newline):
            return code if code.endswith(("\n", "\r")) else code + newline
    return code


def verify(runtime: ProbeRunner, source: Source, summary: FileSummary, findings: list[Finding],
           before: dict[str, Any], fixed: bytes, options: Options) -> bool:
    """Run the rewritten source (SPEC 5 step 5); mark the findings of every class that fails unsafe.
    A class that could not be built before the rewrite cannot be verified: its findings keep the static
    decision and say so. Returns whether any class failed."""
    touched = sorted({f.class_name for f in findings if f.action != "skip"})
    requests = [runtime.settings.request(summary.module, q, sorted({f.attribute for f in findings if f.class_name == q}))
                for q in touched if before.get(q, {}).get("built")]
    after = runtime.run(module_of(source.path)[1], summary.module, source.path, requests,
                        fixed.decode(source.encoding), source.notebook is not None) if requests else {}
    failed = False
    for qualname in touched:
        mine = [f for f in findings if f.class_name == qualname and f.action != "skip"]
        old = before.get(qualname, {})
        if not old.get("built"):
            for finding in mine:
                finding.reasons.append(Reason.of("X-VERIFY-SKIPPED", "runtime verification could not run: "
                                                                     f"{old.get('error') or 'not built'}"))
            continue
        problems = _verification_problems(old, after.get(qualname, {}), mine)
        gaps = _verification_gaps(old, after.get(qualname, {}))
        for finding in mine:
            if problems:
                finding.reasons.extend(Reason.of("R-VERIFICATION", f"refused by runtime verification: {p}")
                                       for p in problems)
                finding.conclude(options)
                continue
            gained = sorted(set(after[qualname].get("state_dict") or []) - set(old.get("state_dict") or []))
            mine = [key for key in gained if key == finding.attribute or key.startswith(finding.attribute + ".")]
            keys = (f"state_dict gains the key{'s' if len(mine) > 1 else ''} {', '.join(repr(k) for k in mine[:4])}"
                    f"{f' and {len(mine) - 4} more' if len(mine) > 4 else ''}" if mine else "state_dict keys unchanged")
            if gaps:
                finding.reasons.append(Reason.of("X-VERIFY-INCOMPLETE",
                                                 f"runtime verification incomplete ({'; '.join(gaps)}); {keys}"))
            else:
                finding.reasons.append(Reason.of("X-VERIFIED", f"runtime verification passed; {keys}"))
            if finding.runtime is not None:
                finding.runtime["verified"] = not gaps
        failed |= bool(problems)
    return failed


def _verification_problems(before: dict[str, Any], after: dict[str, Any], findings: list[Finding]) -> list[str]:
    """What the rewrite observably broke: the class, the registration, the move, or forward's output."""
    if not after.get("built"):
        return [f"the rewritten class does not build: {after.get('error')}"]
    problems = []
    for finding in findings:
        kind = after.get("attributes", {}).get(finding.attribute, {}).get("kind")
        if kind not in (("module",) if finding.action in CONTAINER_ACTIONS else ("parameter", "buffer")):
            problems.append(f"self.{finding.attribute} is still {kind} after the rewrite")
    left = sorted(set(after.get("left_behind", [])) & {f.attribute for f in findings})
    if left:
        problems.append(f"{', '.join(left)} still stay behind on .to('{after.get('target')}')")
    if before.get("output") is not None:
        if after.get("output_error"):
            problems.append(f"forward raises after the rewrite: {after['output_error']}")
        elif after.get("output") is not None:
            changed = [path for path in before["output"] if after["output"].get(path) != before["output"][path]]
            changed += [path for path in after["output"] if path not in before["output"]]
            if changed:
                problems.append(f"forward gives a different output for the same seed and inputs (at {changed[0]})")
    return problems


def _verification_gaps(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Steps of the verification that could not run: the rewrite is then not called verified."""
    gaps = [f"on {after.get('target')}: {after['forward_error']}"] if after.get("forward_error") else []
    if before.get("output") is None:
        gaps.append(f"forward not compared: {before.get('output_error') or before.get('cpu_error') or 'no inputs'}")
    return gaps
