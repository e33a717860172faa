"""The pipeline: read and index every file cheaply, then run libcst only where a finding can be.

Stage 1 (every file, in parallel): read the bytes, parse with ``ast`` and summarise into the
tree-wide class index; every file that does not parse is reported, never silently skipped. Stage 2
(only files with a module class that may assign a tensor, in parallel): parse with libcst, collect
facts, decide, rewrite in memory. Both stages are cached per file. Nothing is written here; ``fix``
writes the results afterwards.
"""

from __future__ import annotations

import ast
import json
import multiprocessing.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from . import __version__, suppression
from .cache import Cache, digest
from .config import Options
from .files import Source, SourceError, decode_source, read_source
from .findings import FileResult, Finding
from .index import ClassIndex, FileSummary, module_of, summarise
from .notebooks import CellError, Notebook, NotebookError, place, write_back
from .rules import needs_libcst
from .runtime import ConfirmSettings, ProbeRunner, RuntimeEvidence
from .stat_table import FileStat, StatTable
from .suppression import Suppression
from .tracing import TraceEvidence

PROBE_PROCESSES = 4  # with --confirm: at most this many workers, each with one probe process
T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]


@dataclass
class _Loaded:
    result: FileResult
    source: Source | None = None
    summary: FileSummary | None = None
    summary_key: str | None = None  # where to cache the summary once parsed
    sha: str | None = None  # of the bytes, once they decode; stage 1 leaves ``source`` None when the stat table knew it


class _ChangedDuringRun(Exception):
    """A file the stat table vouched for held other bytes when a later stage read it."""


def display_path(path: Path, root: Path) -> str:
    """The path as reported, diffed and cached: relative to the repository root, with ``..`` and ``.``
    folded (``cd src/pkg/sub && nnreg diff ..`` must give paths ``git apply`` takes)."""
    normal = Path(os.path.normpath(path.absolute()))
    try:
        return normal.relative_to(os.path.normpath(root.absolute())).as_posix()
    except ValueError:
        return normal.as_posix() if path.is_absolute() else os.path.normpath(path)


def _read(path: Path, root: Path, data: bytes | None, cache: Cache | None, stats: StatTable | None) -> _Loaded:
    """Stage 1, first half: a file whose ``stat`` the table knows is not read at all when the cache holds
    its summary; any other is read and decoded, and its summary taken from the cache when the bytes are known."""
    result = FileResult(path=path, display=display_path(path, root))
    stat = FileStat.of(path) if stats is not None else None  # before the read: a later change shows in the next stat
    known = stats.sha_of(path, stat) if stats is not None else None
    if known is not None and cache is not None:
        unread = _unread(result, known, cache)
        if unread is not None:
            return unread
    try:
        source = read_source(path) if data is None else decode_source(path, data)
    except SourceError as exc:
        result.error = str(exc)
        return _Loaded(result)
    result.original, result.encoding = source.raw, source.encoding
    result.suppressions = suppression.in_source(source.text) if suppression.may_hold(source.data) else []
    if source.notebook is not None:
        result.cell_errors = source.notebook.errors
        located = [(comment, source.notebook.locate(comment.line)) for comment in result.suppressions]
        result.suppressions = [replace(comment, cell=cell, line=line) for comment, (cell, line) in located]
    if stats is not None:
        stats.record(path, stat, source.sha)
    key = _summary_key(path, source.sha)
    cached = cache.get("summary", key) if cache else None
    if cached is None:
        return _Loaded(result, source, summary_key=key if cache else None, sha=source.sha)
    try:
        summary = FileSummary.from_json(cached["summary"]) if cached["summary"] else None
    except (KeyError, TypeError, ValueError):  # written by another build of this version: recompute
        return _Loaded(result, source, summary_key=key if cache else None, sha=source.sha)
    result.error = cached["error"]
    return _Loaded(result, source, summary, sha=source.sha)


def _summary_key(path: Path, sha: str) -> str:
    return digest("summary", __version__, str(path.absolute()), module_of(path)[0], sha)


def _stage1_entry(loaded: _Loaded) -> dict[str, Any]:
    """What stage 1 learns from a file's bytes, cached: the summary, and what the report needs of every
    file (its suppression comments, the notebook cells that do not parse)."""
    summary, result = loaded.summary, loaded.result
    return {"error": result.error, "summary": summary.to_json() if summary else None,
            "suppressions": [comment.to_json() for comment in result.suppressions],
            "cell_errors": [asdict(error) for error in result.cell_errors]}


def _unread(result: FileResult, sha: str, cache: Cache) -> _Loaded | None:
    """A file the stat table vouches for, from its cached stage-1 entry; its bytes stay on disk until a
    later stage needs them (``_source_of``). None when the cache has no usable entry: read the file."""
    cached = cache.get("summary", _summary_key(result.path, sha))
    if not isinstance(cached, dict):
        return None
    try:
        summary = FileSummary.from_json(cached["summary"]) if cached["summary"] else None
        suppressions = [Suppression.from_json(comment) for comment in cached["suppressions"]]
        cell_errors = tuple(CellError(**error) for error in cached["cell_errors"])
        error = cached["error"]
    except (KeyError, TypeError, ValueError):  # written by another build of this version: read the file
        return None
    if summary is None and error is None:
        return None
    result.suppressions, result.cell_errors, result.error = suppressions, cell_errors, error
    return _Loaded(result, summary=summary, sha=sha)


def _source_of(loaded: _Loaded) -> Source:
    """The file's bytes, read now if stage 1 took its summary from the cache on the stat table's word.
    Bytes other than those the table named mean the file changed during the run."""
    if loaded.source is None:
        try:
            source = read_source(loaded.result.path)
        except SourceError:
            raise _ChangedDuringRun from None
        if source.sha != loaded.sha:
            raise _ChangedDuringRun
        loaded.source = source
        loaded.result.original, loaded.result.encoding = source.raw, source.encoding
    return loaded.source


def _parse(source: Source) -> tuple[FileSummary | None, str | None]:
    """Stage 1, second half: the ``ast`` parse and summary of a file the cache did not know."""
    try:
        return summarise(source.path, ast.parse(source.data, filename=str(source.path)), source.sha), None
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        newer = _newer_syntax(getattr(exc, "text", None) or "")  # the offending line, as Python read it
        where = f"line {line}" if line else ""
        if line and source.notebook is not None:  # each cell parses alone; together they do not
            where = "cell {}, line {}".format(*source.notebook.locate(line))
        return None, f"cannot parse{f' ({where})' if where else ''}: {newer or getattr(exc, 'msg', exc)}"


_NEWER_SYNTAX = re.compile(r"^\s*(type\s+\w+\s*(\[.*\])?\s*=|(async\s+)?def\s+\w+\s*\[|class\s+\w+\s*\[)")


def _newer_syntax(line: str) -> str | None:
    """The line a parse failed on uses syntax newer than the running Python (PEP 695 type parameters
    and ``type`` aliases under 3.11): say so, rather than "invalid syntax"."""
    if sys.version_info < (3, 12) and _NEWER_SYNTAX.match(line):
        return (f"needs Python 3.12 syntax (PEP 695 type parameters); nnreg runs on "
                f"{sys.version_info.major}.{sys.version_info.minor}")
    return None


def _result_key(loaded: _Loaded, index: ClassIndex, options: Options) -> str:
    """Everything a stage-2 result depends on: the bytes, the options, nnreg's version and every
    file that defines one of the file's base classes."""
    assert loaded.sha is not None and loaded.summary is not None
    return digest("result", __version__, json.dumps(asdict(options), sort_keys=True), loaded.result.display,
                  loaded.sha, *index.dependencies(loaded.summary))


def _analyse(loaded: _Loaded, index: ClassIndex, options: Options, cache: Cache | None,
             runtime: ProbeRunner | TraceEvidence | None = None) -> FileResult:
    """Stage 2 for one file (a cache miss): libcst analysis, stored for the next run."""
    from .source_analysis import analyse_source  # libcst is imported only when a file needs it

    result, source, summary = loaded.result, loaded.source, loaded.summary
    assert source is not None and summary is not None
    findings, fixed, error, probed = analyse_source(source, summary, index, options, result.display, runtime)
    if source.notebook is not None:
        findings, fixed, error = _into_cells(source.notebook, findings, fixed, error)
    cached = {"findings": [f.to_json() for f in findings], "error": error,
              "fixed": fixed.decode("latin-1") if fixed is not None else None, "probed": probed}
    if cache and not runtime:  # results that read runtime evidence are never reused
        cache.put("result", _result_key(loaded, index, options), cached)
    return _restore(loaded, cached)


def _into_cells(notebook: Notebook, findings: list[Finding], fixed: bytes | None, error: str | None
                ) -> tuple[list[Finding], bytes | None, str | None]:
    """A notebook's stage-2 result in its own terms: findings by cell, and the fixed module as the
    notebook file with the changed cells' sources."""
    findings = [place(notebook, finding) for finding in findings]
    if fixed is None:
        return findings, None, error
    try:
        return findings, write_back(notebook, fixed.decode("utf-8")), error
    except NotebookError as exc:
        return findings, None, str(exc)


def _restore(loaded: _Loaded, cached: dict[str, Any]) -> FileResult:
    """A stage-2 result from its JSON form, the same whether it was just computed or cached."""
    result = loaded.result
    result.findings = [Finding.from_json(f) for f in cached["findings"]]
    result.error = cached["error"]
    result.probed = cached.get("probed", {})
    result.fixed = cached["fixed"].encode("latin-1") if cached["fixed"] is not None else None
    if result.fixed is None:
        result.original = None  # nothing to diff or write: do not carry the bytes back
    return result


_WORKER: dict[str, Any] = {}


def _init_worker(index: ClassIndex, options: Options, cache: Cache | None, runtime: RuntimeEvidence | None) -> None:
    """Per worker (or once, in-process): the shared state, and for ``--confirm`` the worker's one probe
    process, closed when the worker exits (``Finalize`` runs where ``atexit`` does not: pool workers)."""
    _close_probe()
    if isinstance(runtime, ConfirmSettings):
        runner = ProbeRunner(runtime, cache)
        multiprocessing.util.Finalize(runner, runner.close, exitpriority=100)
        runtime = runner  # type: ignore[assignment]
    _WORKER.update(index=index, options=options, cache=cache, runtime=runtime)


def _close_probe() -> None:
    runner = _WORKER.pop("runtime", None)
    if isinstance(runner, ProbeRunner):
        runner.close()


def _analyse_in_worker(loaded: _Loaded) -> FileResult:
    return _analyse(loaded, _WORKER["index"], _WORKER["options"], _WORKER["cache"], _WORKER["runtime"])


def run(paths: Iterable[Path], root: Path, options: Options, stdin: tuple[Path, bytes] | None = None,
        prefilter: bool = True, jobs: int = 1, cache: Cache | None = None,
        progress: Progress | None = None, runtime: RuntimeEvidence | None = None) -> list[FileResult]:
    """Analyse every path (or the one stdin source) and return per-file results in path order.

    The results do not depend on ``jobs`` or on the cache. ``prefilter=False`` runs libcst on every
    file: the slow reference that the cheap stage must match. A file that changes while the run trusts
    the stat table's word for it makes the run start again, reading every file.
    """
    paths = list(paths)
    stats = StatTable(cache, root) if cache is not None else None
    try:
        return _run(paths, root, options, stdin, prefilter, jobs, cache, progress, runtime, stats)
    except _ChangedDuringRun:
        return _run(paths, root, options, stdin, prefilter, jobs, cache, progress, runtime, None)


def _run(paths: list[Path], root: Path, options: Options, stdin: tuple[Path, bytes] | None, prefilter: bool,
         jobs: int, cache: Cache | None, progress: Progress | None, runtime: RuntimeEvidence | None,
         stats: StatTable | None) -> list[FileResult]:
    show = progress or (lambda items, length, label: items)
    loaded = [_read(path, root, None, cache, stats) for path in paths]
    if stdin is not None:
        loaded.append(_read(stdin[0], root, stdin[1], None, None))
    unparsed = [item for item in loaded if item.source is not None and item.summary is None and not item.result.error]
    sources = [item.source for item in unparsed]
    for item, (summary, error) in zip(unparsed, show(_mapped(_parse, sources, jobs), len(unparsed), "indexing"), strict=True):
        item.summary, item.result.error = summary, error
        if cache and item.summary_key:
            cache.put("summary", item.summary_key, _stage1_entry(item))
    index = ClassIndex(options.module_bases)
    for item in loaded:
        if item.summary is not None:
            index.add(item.summary)
    _expand_star_imports(loaded, index)
    index.infer_module_bases()
    index.find_tensor_method_clashes()
    pending = [item for item in loaded if item.summary is not None and item.sha is not None
               and (not prefilter or needs_libcst(item.summary, index, options))]
    waiting = {id(item) for item in pending}
    for item in loaded:
        if id(item) not in waiting:
            item.source = item.result.original = None  # only files that may change keep their bytes
    use_cache = cache if stdin is None else None
    hits = {id(item): use_cache.get("result", _result_key(item, index, options))
            for item in pending} if use_cache and not runtime else {}
    misses = [item for item in pending if hits.get(id(item)) is None]
    for item in pending:
        if hits.get(id(item)) is None or hits[id(item)]["fixed"] is not None:
            _source_of(item)  # analysed, or diffed and written: the bytes are needed
    if isinstance(runtime, ConfirmSettings):
        jobs = min(jobs, PROBE_PROCESSES)  # each worker keeps one probe process
    try:
        analysed = list(show(_mapped(_analyse_in_worker, misses, jobs, (index, options, use_cache, runtime)),
                             len(misses), "analysing"))
    finally:
        _close_probe()
    for item, result in zip(misses, analysed, strict=True):
        item.result = result
    for item in pending:
        if hits.get(id(item)) is not None:
            item.result = _restore(item, hits[id(item)])
    if stats is not None:
        stats.save()
    if cache:
        cache.prune()
    return [item.result for item in loaded]


def _expand_star_imports(loaded: list[_Loaded], index: ClassIndex) -> None:
    """Files with ``from m import *``: summarise again with the names those modules bring, so that a
    star-imported ``nn`` or ``torch`` hides no module class and no torch call."""
    for item in loaded:
        if item.summary is None or item.sha is None or not item.summary.imports.star_sources:
            continue
        names = index.star_names(item.summary)
        if any(not item.summary.imports.is_bound(name) for name in names):
            source = _source_of(item)
            item.summary = summarise(source.path, ast.parse(source.data), source.sha, names)
            index.add(item.summary)


def _mapped(fn: Callable[[T], R], items: list[T], jobs: int,
            worker_state: tuple[ClassIndex, Options, Cache | None, RuntimeEvidence | None] | None = None) -> Iterator[R]:
    """``fn`` over ``items`` in input order: in worker processes when that can pay off."""
    if worker_state is not None:
        _init_worker(*worker_state)
    workers = min(jobs, len(items))
    if workers < 2:
        yield from map(fn, items)
        return
    from concurrent.futures import ProcessPoolExecutor  # only runs with work to spread pay for this import

    initargs = worker_state or (None, None, None, None)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=initargs) as executor:
        yield from executor.map(fn, items, chunksize=max(1, min(16, len(items) // (8 * workers))))
