"""Stage 2 for one file: libcst parse, fact collection, decisions and the rewritten bytes.

Kept apart from the pipeline so that importing libcst is paid only by runs that reach this stage.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .analysis import analyse_class, module_classes
from .config import Options
from .decision import decide_class
from .files import Source
from .findings import Edit, Finding
from .index import ClassIndex, FileSummary
from .rewrite import SpellingError, apply_edits


def analyse_source(source: Source, summary: FileSummary, index: ClassIndex, options: Options,
                   display: str) -> tuple[list[Finding], bytes | None, str | None]:
    """Findings (sorted by position), the fixed bytes (None when nothing changes) and an error."""
    try:
        module = cst.parse_module(source.data)
    except cst.ParserSyntaxError as exc:
        return [], None, f"cannot parse (line {exc.raw_line}): {exc.message}"
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    lines = source.text.splitlines()
    findings: list[Finding] = []
    edits: list[Edit] = []
    for node, class_summary in module_classes(module, summary, index):
        facts = analyse_class(node, class_summary, summary, positions, lines)
        for finding in decide_class(facts, index, options, display):
            if options.selects(finding.code):
                findings.append(finding)
                edits.extend(finding.edits)
    findings.sort(key=lambda f: (f.line, f.column))
    if not edits:
        return findings, None, None
    try:
        fixed = apply_edits(module, edits, summary.imports, options.buffer_style).bytes
    except SpellingError as exc:
        for finding in findings:
            if finding.edits:
                finding.status, finding.action = "unsafe", "skip"
                finding.reasons.append(f"refused: {exc}")
        return findings, None, None
    try:
        compile(fixed, display, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return findings, None, f"internal error: the rewrite would not compile ({exc.msg}); file left unchanged"
    return findings, fixed, None
