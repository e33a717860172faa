"""The pipeline: read and index every file cheaply, then run libcst only where a finding can be.

Stage 1 (every file): read the bytes and summarise with ``ast`` into the tree-wide class index
(which also reports every file that does not parse, never a silent skip). Stage 2 (files with module classes): parse with libcst, collect
facts, decide, rewrite in memory. Nothing is written here; ``fix`` writes the results afterwards.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from .analysis import analyse_class, module_classes
from .config import Options
from .decision import decide_class
from .files import Source, SourceError, decode_source, read_source
from .findings import FileResult
from .index import ClassIndex, FileSummary, summarise
from .rewrite import SpellingError, apply_edits


@dataclass
class _Loaded:
    result: FileResult
    source: Source | None = None
    summary: FileSummary | None = None


def display_path(path: Path, root: Path) -> str:
    try:
        return path.absolute().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _load(path: Path, root: Path, data: bytes | None) -> _Loaded:
    result = FileResult(path=path, display=display_path(path, root))
    try:
        source = read_source(path) if data is None else decode_source(path, data)
    except SourceError as exc:
        result.error = str(exc)
        return _Loaded(result)
    result.original, result.encoding = source.data, source.encoding
    try:
        tree = ast.parse(source.data, filename=str(path))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        result.error = f"cannot parse{f' (line {line})' if line else ''}: {getattr(exc, 'msg', exc)}"
        return _Loaded(result, source)
    return _Loaded(result, source, summarise(path, tree))


def needs_libcst(summary: FileSummary, index: ClassIndex) -> bool:
    """Stage 1's verdict: only a module class that may assign a tensor to ``self`` can hold a finding."""
    return any(c.may_hold_tensor and index.is_module_class(c) for c in summary.classes.values())


def _analyse(loaded: _Loaded, index: ClassIndex, options: Options, prefilter: bool) -> None:
    """Stage 2 for one file: libcst facts, decisions and the rewritten source."""
    result, source, summary = loaded.result, loaded.source, loaded.summary
    if source is None or summary is None:
        return
    if prefilter and not needs_libcst(summary, index):
        return
    try:
        module = cst.parse_module(source.data)
    except cst.ParserSyntaxError as exc:
        result.error = f"cannot parse (line {exc.raw_line}): {exc.message}"
        return
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    lines = source.text.splitlines()
    edits = []
    for node, class_summary in module_classes(module, summary, index):
        facts = analyse_class(node, class_summary, summary, positions, lines)
        for finding in decide_class(facts, index, options, result.display):
            if options.selects(finding.code):
                result.findings.append(finding)
                edits.extend(finding.edits)
    result.findings.sort(key=lambda f: (f.line, f.column))
    if not edits:
        return
    try:
        fixed = apply_edits(module, edits, summary.imports, options.buffer_style)
    except SpellingError as exc:
        for finding in result.findings:
            if finding.edits:
                finding.status, finding.action, finding.edits = "unsafe", "skip", []
                finding.reasons.append(f"refused: {exc}")
        return
    try:
        compile(fixed.bytes, str(result.path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        result.error = f"internal error: the rewrite would not compile ({exc.msg}); file left unchanged"
        return
    result.fixed = fixed.bytes


def run(paths: Iterable[Path], root: Path, options: Options, stdin: tuple[Path, bytes] | None = None,
        prefilter: bool = True) -> list[FileResult]:
    """Analyse every path (or the one stdin source) and return per-file results in path order.

    ``prefilter=False`` runs libcst on every file: the slow reference the cheap stage must match.
    """
    index = ClassIndex(options.module_bases)
    loaded = [_load(path, root, None) for path in paths]
    if stdin is not None:
        loaded.append(_load(stdin[0], root, stdin[1]))
    for item in loaded:
        if item.summary is not None:
            index.add(item.summary)
    for item in loaded:
        _analyse(item, index, options, prefilter)
    return [item.result for item in loaded]
