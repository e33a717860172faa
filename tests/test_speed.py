"""The speed machinery never changes a result: cheap stage, parallel jobs, cache, progress bar."""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import codemod
from codemod import engine
from codemod.cache import KEEP_RUNS, Cache
from codemod.cli import progress_bar
from codemod.config import Options
from codemod.discovery import discover
from conftest import CASES, nnreg, on_a_terminal
from conftest import corpus as pinned_wheels


def _dump(results: list) -> list:
    return [(r.display, r.error, r.fixed, [f.to_json() for f in r.findings]) for r in results]


def _run(tree: Path, **kwargs) -> list:
    return _dump(engine.run(list(discover([tree], tree)), tree, Options(), **kwargs))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture input side by side: one tree with cross-file cases, encodings and errors."""
    tree = tmp_path_factory.mktemp("corpus")
    for case in CASES:
        shutil.copytree(case.input, tree / case.name)
    (tree / "broken.py").write_bytes(b"class (:\n")
    return tree


def test_cheap_stage_gives_the_same_findings_as_full_analysis_on_fixtures(corpus: Path) -> None:
    assert _run(corpus, prefilter=True) == _run(corpus, prefilter=False)


def test_cheap_stage_gives_the_same_findings_on_a_real_corpus() -> None:
    """The wheel is downloaded once into the corpus cache (``scripts/corpus.py``); a run that cannot
    have it fails: a skipped soundness test would pass CI without checking anything."""
    try:
        root = pinned_wheels.fetch("speechbrain==1.1.2")
    except (SystemExit, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot download speechbrain==1.1.2 into {pinned_wheels.default_cache()} (set "
                    f"${pinned_wheels.ENVIRONMENT} to a folder that holds it, or let PyPI be reached): {exc}")
    assert _run(root, prefilter=True) == _run(root, prefilter=False)


def test_parallel_and_cached_runs_print_identical_json(corpus: Path, tmp_path: Path) -> None:
    base = ["check", "--format", "json", "-q", str(corpus)]
    serial = nnreg(*base, "-j", "1", "--no-cache").stdout
    assert serial.count(b'"path"') > 40
    assert nnreg(*base, "-j", "2", "--no-cache").stdout == serial
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert nnreg(*base, "-j", "2", *cache).stdout == serial  # cold
    assert (tmp_path / "cache" / ".gitignore").read_text().endswith("*\n")
    assert nnreg(*base, "-j", "2", *cache).stdout == serial  # warm
    assert nnreg(*base, "-j", "1", *cache).stdout == serial


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "proj"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    (tree / "pkg" / "base.py").write_text("class Base:\n    pass\n")
    (tree / "pkg" / "net.py").write_text(
        "import torch\nfrom .base import Base\n\n\nclass Net(Base):\n    def __init__(self):\n"
        "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
        "        return x * self.mask\n")
    return tree


def _findings(tree: Path, cache: Cache, options: Options | None = None) -> list[tuple[str, bool | None]]:
    results = engine.run(list(discover([tree], tree)), tree, options or Options(), cache=cache)
    return [(f.attribute, f.persistent) for r in results for f in r.findings]


def test_cache_is_invalidated_by_a_base_class_in_another_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    cache = Cache(tmp_path / "cache")
    assert _findings(tree, cache) == []  # Base is not a module yet
    (tree / "pkg" / "base.py").write_text("from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n")
    assert _findings(tree, cache) == [("mask", False)]


def test_cache_is_invalidated_by_the_file_and_the_config(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "pkg" / "base.py").write_text("from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n")
    cache = Cache(tmp_path / "cache")
    assert _findings(tree, cache) == [("mask", False)]
    assert _findings(tree, cache, Options(persistent="always")) == [("mask", True)]
    net = tree / "pkg" / "net.py"
    net.write_text(net.read_text().replace("self.mask = torch.ones(3)", "self.mask = torch.ones(3)\n"
                                           "        self.table = torch.eye(3)"))
    assert _findings(tree, cache) == [("mask", False), ("table", False)]


def test_cache_is_invalidated_by_the_nnreg_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = _tree(tmp_path)
    (tree / "pkg" / "base.py").write_text("from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n")
    older = Cache(tmp_path / "cache")
    _findings(tree, older)
    for module in (codemod, codemod.cache, codemod.engine):
        monkeypatch.setattr(module, "__version__", "99.0")
    newer = Cache(tmp_path / "cache")
    # the version, the interpreter and libcst that parse, and a hash of nnreg's own code
    assert newer.directory.name.startswith(f"99.0-cpython{sys.version_info.major}.{sys.version_info.minor}-libcst")
    assert _findings(tree, newer) == [("mask", False)]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [".gitignore", "runs.json", older.directory.name, newer.directory.name])  # the older one, used by a recent run, stays
    assert list(newer.directory.rglob("*.json"))


def test_corrupt_or_unwritable_cache_warns_and_changes_nothing(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree / "pkg" / "base.py").write_text("from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n")
    cache_dir = tmp_path / "cache"
    args = ["check", "--format", "json", "-q", "--cache-dir", str(cache_dir), "pkg"]
    expected = nnreg(*args, cwd=tree).stdout
    for entry in cache_dir.rglob("*.json"):
        entry.write_bytes(b"{not json")
    corrupt = nnreg(*args, cwd=tree)
    assert corrupt.stdout == expected
    assert b"warning: cache" in corrupt.stderr
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    unwritable = nnreg("check", "--format", "json", "-q", "--cache-dir", str(blocked / "sub"), "pkg", cwd=tree)
    assert unwritable.stdout == expected
    assert b"warning: cache" in unwritable.stderr and b"Traceback" not in unwritable.stderr


def _slow_tree(tmp_path: Path) -> Path:
    """Thirty module files: a few seconds of libcst (stage 2) on one core."""
    tree = tmp_path / "modules"
    tree.mkdir()
    for i in range(30):
        (tree / f"m{i}.py").write_text("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
                                       "    def __init__(self):\n        super().__init__()\n"
                                       f"        self.mask = torch.ones({i + 1})\n" + "        self.x = 1\n" * 100)
    return tree


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = nnreg("check", "--no-cache", "-q", "-j", "1", str(_slow_tree(tmp_path)))
    assert result.returncode == 1 and result.stderr == b""


def test_progress_bar_on_a_terminal_covers_the_libcst_stage(tmp_path: Path) -> None:
    """A run longer than about a second shows the bar, for stage 2 (libcst) too."""
    shown = on_a_terminal(["check", "--no-cache", "-j", "1", str(_slow_tree(tmp_path))], stream="stderr")
    assert b"analysing  [" in shown and b"100%" in shown


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _ticks(step: float) -> Callable[[], float]:
    """A clock that advances ``step`` seconds at every reading."""
    now = itertools.count(0.0, step)
    return lambda: next(now)


@pytest.mark.parametrize("tty, step, shown", [(False, 10.0, False), (True, 0.0, False), (True, 0.3, True)])
def test_progress_bar_only_for_runs_longer_than_a_second_on_a_terminal(tty: bool, step: float, shown: bool) -> None:
    stream = _Stream(tty)
    assert list(progress_bar(range(10), 10, "analysing", stream, _ticks(step))) == list(range(10))
    assert ("analysing  [" in stream.getvalue()) is shown
    if shown:
        assert "100%" in stream.getvalue()


def test_cache_keeps_what_recent_runs_used_and_prunes_the_rest(tmp_path: Path) -> None:
    """Entries of a file gone from the tree, and folders of other versions, go once no recent run
    used them; the folder stays proportional to the tree."""
    tree = _tree(tmp_path)
    (tree / "pkg" / "base.py").write_text("from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n")
    extra = tree / "pkg" / "extra.py"
    extra.write_text("import torch\nfrom torch import nn\n\n\nclass Extra(nn.Module):\n    def __init__(self):\n"
                     "        super().__init__()\n        self.grid = torch.eye(2)\n")
    cache = Cache(tmp_path / "cache")
    _findings(tree, cache)
    stale = tmp_path / "cache" / "0.1.0-cpython3.10-libcst1.0-000000000000"
    (stale / "result" / "ab").mkdir(parents=True)
    (stale / "result" / "ab" / "abc.json").write_text("{}")
    entries = set(cache.directory.rglob("*.json"))
    assert len(entries) >= 6  # a summary and a result per file
    long_ago = time.time() - 3600
    for path in [*entries, stale / "result" / "ab" / "abc.json"]:
        os.utime(path, (long_ago, long_ago))
    extra.unlink()
    for _ in range(KEEP_RUNS):
        assert _findings(tree, Cache(tmp_path / "cache")) == [("mask", False)]
    assert not stale.exists()
    kept = {p.relative_to(cache.directory) for p in cache.directory.rglob("*.json")}
    fresh = Cache(tmp_path / "fresh")
    _findings(tree, fresh)
    assert kept == {p.relative_to(fresh.directory) for p in fresh.directory.rglob("*.json")}  # the tree's, no more
    assert len(json.loads((tmp_path / "cache" / "runs.json").read_text())) == KEEP_RUNS
