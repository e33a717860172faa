"""Stage 2 for one file: libcst parse, fact collection, decisions and the rewritten bytes.

Kept apart from the pipeline so that importing libcst is paid only by runs that reach this stage.
"""

from __future__ import annotations

import ast
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .analysis import ClassFacts, analyse_class, module_classes
from .config import Options
from .decision import candidate_names
from .files import Source, source_lines
from .findings import Finding
from .index import ClassIndex, ClassSummary, FileSummary, module_of
from .reasons import Reason
from .rewrite import SpellingError
from .rules import check_class, rewrite_findings
from .runtime import ProbeRunner
from .tracing import TraceEvidence


def analyse_source(source: Source, summary: FileSummary, index: ClassIndex, options: Options, display: str,
                   runtime: ProbeRunner | TraceEvidence | None = None
                   ) -> tuple[list[Finding], bytes | None, str | None, dict[str, dict[str, str | None]]]:
    """Findings (sorted by position), the fixed bytes (None when nothing changes), an error, and for each
    class the probe looked at, why it was not built (a ``runtime.NOT_BUILT`` code and the error), or
    None for both when it was.

    With a ``ProbeRunner``, the probe runs the module before deciding (only classes with a static
    finding or a value only runtime can type), and again on the rewritten source: a class whose
    rewrite fails that check keeps its code, and its findings become ``unsafe``. With the evidence of ``nnreg trace``, the traced run's observations decide alike, and
    nothing runs.
    """
    try:
        module = cst.parse_module(source.data)
    except cst.ParserSyntaxError as exc:
        return [], None, f"cannot parse (line {exc.raw_line}): {exc.message}", {}
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = source_lines(source.text)
    classes = [(summary_, analyse_class(node, summary_, summary, index, positions, lines))
               for node, summary_ in module_classes(module, summary, index)]
    decided = [check_class(facts, index, options, display) for _, facts in classes]  # a class may be defined twice
    reports: dict[str, Any] | None = None
    if isinstance(runtime, TraceEvidence):
        reports = runtime.reports(source.path)
    elif runtime is not None:
        requests = _requests(runtime, summary, classes, decided)
        reports = runtime.run(module_of(source.path)[1], summary.module, source.path, requests, source.text,
                              source.notebook is not None) if requests else {}
    for position, (class_summary, facts) in enumerate(classes):  # what runtime saw of a class decides it again
        if reports and class_summary.qualname in reports:
            decided[position] = check_class(facts, index, options, display, reports[class_summary.qualname])
    findings = [finding for found in decided for finding in found if options.selects(finding.code)]
    findings.sort(key=lambda f: (f.line, f.column))
    for finding in findings:
        finding.source_line = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if source.notebook is not None else 0  # a cell may ``await``
    fixed, error = _rewrite(module, findings, summary, options, display, flags)
    if fixed is not None and isinstance(runtime, ProbeRunner) and reports is not None:
        failed = verify(runtime, source, summary, findings, reports, fixed, options)
        if failed:
            fixed, error = _rewrite(module, findings, summary, options, display, flags)
    if isinstance(runtime, TraceEvidence):
        return findings, fixed, error, {}
    probed = {name: {"why": None, "error": None} if report.get("built") else
              {"why": report.get("why", "raised"), "error": report.get("error")}
              for name, report in (reports or {}).items()}
    return findings, fixed, error, probed


def _requests(runtime: ProbeRunner, summary: FileSummary, classes: list[tuple[ClassSummary, ClassFacts]],
              decided: list[list[Finding]]) -> list[dict[str, Any]]:
    """The classes worth running: those with a static finding to confirm or verify, or a value only the
    probe can type. A file whose candidates are all settled statically is not run at all."""
    requests = []
    for (class_summary, facts), found_here in zip(classes, decided, strict=True):
        names = candidate_names(facts)
        untyped = any(a.info.kind == "possible" for a in facts.assignments if a.attribute in names)
        found = any(f.status != "suppressed" for f in found_here)
        if names and (untyped or found):
            requests.append(runtime.settings.request(summary.module, class_summary.qualname, names))
    return requests


def _rewrite(module: cst.Module, findings: list[Finding], summary: FileSummary, options: Options,
             display: str, flags: int = 0) -> tuple[bytes | None, str | None]:
    """The fixed bytes for the findings still to apply, or None; refusals are recorded on them.
    ``flags`` are the compiler's for the check that the rewrite compiles."""
    edits = [edit for finding in findings if finding.action != "skip" for edit in finding.edits]
    if not edits:
        return None, None
    try:
        fixed = rewrite_findings(module, findings, summary.imports, options).bytes
    except SpellingError as exc:
        for finding in findings:
            if finding.action != "skip":
                finding.reasons.append(Reason.of("R-SPELLING", f"refused: {exc}"))
                finding.conclude(options)
        return None, None
    try:
        compile(fixed, display, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as exc:
        return None, f"internal error: the rewrite would not compile ({exc.msg}); file left unchanged"
    return fixed, None


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
            added = finding.attribute in set(after[qualname].get("state_dict") or []) - set(old.get("state_dict") or [])
            keys = f"state_dict gains the key '{finding.attribute}'" if added else "state_dict keys unchanged"
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
        if kind not in ("parameter", "buffer"):
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
