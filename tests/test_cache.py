"""The stat fast path of the cache: a warm run reads only the files it has something to do with.

Files are read through ``engine.read_source`` and parsed through ``engine._parse``; the tests count
those calls in-process. Every tree's files get an mtime an hour old: the stat table records no file
written within ``cache.SLACK`` of the run (a change in the same clock tick could keep its mtime).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codemod import engine, files, source_analysis
from codemod.cache import KEEP_RUNS, Cache
from codemod.config import Options
from codemod.discovery import discover
from codemod.stat_table import KIND
from conftest import CASES, Case, nnreg, write_tree

NOTEBOOKS = Path(__file__).parent / "notebooks"

HOUR = 3600.0
BASE = "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n"
NET = ("import torch\nfrom .base import Base\n\n\nclass Net(Base):\n    def __init__(self):\n"
       "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
       "        return x * self.mask\n")
FIXED_NET = NET.replace("self.mask = torch.ones(3)", 'self.register_buffer("mask", torch.ones(3), persistent=False)')
PLAIN = "import torch\n\n\ndef scale(x):\n    return x * 2  # noqa: NR002\n"


def _age(tree: Path, seconds: float = HOUR) -> None:
    """Give every file under ``tree`` (or ``tree`` itself) an mtime ``seconds`` old."""
    then = time.time() - seconds
    for path in [tree, *tree.rglob("*.py")] if tree.is_dir() else [tree]:
        os.utime(path, (then, then))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = write_tree(tmp_path / "proj", {"pkg/__init__.py": "", "pkg/base.py": BASE, "pkg/net.py": NET,
                                          "pkg/plain.py": PLAIN})
    _age(root)
    return root


class Calls:
    """The files a run read, parsed (``ast``, stage 1) and analysed (libcst, stage 2), by name; ``paths``
    has the whole paths of those read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read: list[str] = []
        self.parsed: list[str] = []
        self.analysed: list[str] = []
        self.paths: list[Path] = []
        monkeypatch.setattr(engine, "read_source", self._counted(files.read_source, self.read, self._read_path))
        monkeypatch.setattr(engine, "_parse", self._counted(engine._parse, self.parsed, lambda source: source.path))
        monkeypatch.setattr(source_analysis, "analyse_source",
                            self._counted(source_analysis.analyse_source, self.analysed, lambda source, *rest: source.path))

    @staticmethod
    def _counted(fn: Callable[..., Any], log: list[str], path_of: Callable[..., Path]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            log.append(path_of(*args).name)
            return fn(*args)
        return counted

    def _read_path(self, path: Path) -> Path:
        self.paths.append(path)
        return path

    def reset(self) -> None:
        self.read.clear()
        self.parsed.clear()
        self.analysed.clear()
        self.paths.clear()


def _run(tree: Path, cache_dir: Path) -> list[tuple[str, str | None, bytes | None, list[dict], list[dict]]]:
    """What a report, a diff and a fix read of each file's result."""
    results = engine.run(list(discover([tree], tree)), tree, Options(), cache=Cache(cache_dir))
    return [(r.display, r.error, r.fixed, [f.to_json() for f in r.findings], [s.to_json() for s in r.suppressions])
            for r in results]


def test_a_warm_run_reads_only_the_files_with_something_to_write(tree: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    cold = _run(tree, tmp_path / "cache")
    assert sorted(calls.read) == ["__init__.py", "base.py", "net.py", "plain.py"]
    calls.reset()
    assert _run(tree, tmp_path / "cache") == cold
    assert (calls.read, calls.parsed, calls.analysed) == (["net.py"], [], [])  # its fix needs its bytes
    assert [s["codes"] for _, _, _, _, comments in cold for s in comments] == [["NR002"]]  # plain.py's, unread


def test_a_touched_file_is_hashed_again_and_its_results_reused(tree: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    cold = _run(tree, tmp_path / "cache")
    calls.reset()
    (tree / "pkg" / "base.py").touch()  # same bytes, a new mtime
    assert _run(tree, tmp_path / "cache") == cold
    assert (sorted(calls.read), calls.parsed, calls.analysed) == (["base.py", "net.py"], [], [])


def test_a_changed_file_is_analysed_again(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = Calls(monkeypatch)
    _run(tree, tmp_path / "cache")
    calls.reset()
    net = tree / "pkg" / "net.py"
    net.write_text(NET.replace("torch.ones(3)", "torch.ones(4)"))
    _age(net)
    warm = _run(tree, tmp_path / "cache")
    assert (calls.read, calls.parsed, calls.analysed) == (["net.py"], ["net.py"], ["net.py"])
    assert warm == _run(tree, tmp_path / "fresh")
    assert b"torch.ones(4)" in dict((d, fixed) for d, _, fixed, _, _ in warm)["pkg/net.py"]


def test_a_change_that_puts_the_mtime_back_is_seen(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same size, same mtime (``touch -d``, ``rsync -t``): the ctime still differs. base.py has nothing
    to fix, so only its stat says whether to read it."""
    calls = Calls(monkeypatch)
    cold = _run(tree, tmp_path / "cache")
    base = tree / "pkg" / "base.py"
    before = base.stat()
    base.write_text(BASE.replace("class Base(", "class Bass("))  # Net's base class is no module now
    os.utime(base, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (base.stat().st_size, base.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    calls.reset()
    warm = _run(tree, tmp_path / "cache")
    assert calls.parsed == ["base.py"]
    assert warm == _run(tree, tmp_path / "fresh") != cold


def test_files_written_just_before_the_run_are_not_vouched_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file changed again within the clock tick of its read would keep its mtime: read it every run."""
    tree = write_tree(tmp_path / "proj", {"pkg/__init__.py": "", "pkg/base.py": BASE, "pkg/net.py": NET})
    calls = Calls(monkeypatch)
    _run(tree, tmp_path / "cache")
    calls.reset()
    _run(tree, tmp_path / "cache")
    assert sorted(calls.read) == ["__init__.py", "base.py", "net.py"] and calls.parsed == []


def test_a_file_changed_during_the_run_starts_it_again(tree: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The table vouched for net.py in stage 1; it changes before stage 2 reads it: nothing stale is used."""
    _run(tree, tmp_path / "cache")
    net = tree / "pkg" / "net.py"
    vouched = engine._unread

    def then_edited(result: Any, sha: str, cache: Cache) -> Any:
        loaded = vouched(result, sha, cache)
        if result.path == net:
            net.write_text(NET.replace("torch.ones(3)", "torch.ones(5)"))
        return loaded

    monkeypatch.setattr(engine, "_unread", then_edited)
    warm = _run(tree, tmp_path / "cache")
    assert warm == _run(tree, tmp_path / "fresh")
    assert b"torch.ones(5)" in dict((d, fixed) for d, _, fixed, _, _ in warm)["pkg/net.py"]


def test_fix_after_warm_runs_writes_the_fixed_file(tree: Path, tmp_path: Path) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert nnreg("check", "-q", *cache, "pkg", cwd=tree).returncode == 1
    assert nnreg("check", "-q", *cache, "pkg", cwd=tree).returncode == 1
    result = nnreg("fix", *cache, "pkg", cwd=tree)
    assert result.returncode == 0, result.stderr
    assert (tree / "pkg" / "net.py").read_text() == FIXED_NET
    assert (tree / "pkg" / "base.py").read_text() == BASE
    assert nnreg("check", "-q", *cache, "pkg", cwd=tree).returncode == 0


def test_rows_of_files_no_recent_run_saw_are_pruned(tree: Path, tmp_path: Path) -> None:
    gone = tree / "pkg" / "gone.py"
    gone.write_text(PLAIN)
    _age(tree, 2 * HOUR)
    first = Cache(tmp_path / "cache")
    first.started -= HOUR  # the first run, an hour ago
    engine.run(list(discover([tree], tree)), tree, Options(), cache=first)
    gone.unlink()
    for _ in range(KEEP_RUNS):
        _run(tree, tmp_path / "cache")
    [table] = (first.directory / KIND).rglob("*.json")
    rows = json.loads(table.read_text())["value"]
    assert sorted(Path(path).name for path in rows) == ["__init__.py", "base.py", "net.py", "plain.py"]


def test_warm_runs_over_every_fixture_report_what_a_run_without_cache_does(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Suppression comments, notebook cells that do not parse, encodings, star imports, unreadable files:
    what stage 1 learns from bytes it no longer reads must come back whole from the cache."""
    tree = tmp_path / "all"
    for case in [*CASES, *(Case(p.name, p) for p in sorted(NOTEBOOKS.iterdir()))]:
        shutil.copytree(case.input, tree / case.name)
    _age(tree)
    args = ["check", "--format", "json", "--warn-unused-suppressions", "--exit-zero", "-j", "1"]
    expected = nnreg(*args, "--no-cache", ".", cwd=tree)
    assert expected.returncode == 0, expected.stderr
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert nnreg(*args, *cache, ".", cwd=tree).stdout == expected.stdout  # cold
    calls = Calls(monkeypatch)
    warm = nnreg(*args, *cache, ".", cwd=tree)
    assert (warm.stdout, warm.stderr) == (expected.stdout, expected.stderr)
    with_findings = {finding["path"] for finding in json.loads(expected.stdout)["findings"]}
    star_imports = {path.relative_to(tree).as_posix() for path in tree.rglob("*.py")
                    if b"import *" in path.read_bytes()}
    read = {path.relative_to(tree).as_posix() for path in calls.paths}
    assert calls.parsed == [] and read and read <= with_findings | star_imports  # summarised again with the names
    assert len(read) < len([path for path in tree.rglob("*") if path.suffix in (".py", ".ipynb")])


def test_a_tampered_table_costs_its_rows_not_the_run(tree: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cold = _run(tree, tmp_path / "cache")
    [table] = (tmp_path / "cache").rglob(f"{KIND}/*/*.json")
    entry = json.loads(table.read_text())
    entry["value"] = {path: [*row[:5], "yesterday"] for path, row in entry["value"].items()}
    table.write_text(json.dumps(entry))
    calls = Calls(monkeypatch)
    assert _run(tree, tmp_path / "cache") == cold
    assert sorted(calls.read) == ["__init__.py", "base.py", "net.py", "plain.py"]
