"""Benchmark nnreg against plain libcst parsing on pinned real corpora (SPEC section 9).

    python scripts/bench.py                      # timm==1.0.31, transformers==5.23.0 and the generated file
    python scripts/bench.py --runs 5 --with-torchfix --markdown docs/benchmarks.md
    python scripts/bench.py --corpus generated   # only the generated file

For each corpus, with the median of ``--runs`` runs: (a) ``libcst.parse_module`` of every ``.py``
file in one process; (a0) ``ast.parse`` of every file, the floor of any analysis; (b) ``nnreg check``
cold with ``-j 1``; (c) cold with all cores; (d) warm cache; (e) TorchFix on the same tree
(``--with-torchfix``, needs ``pip install torchfix``). Peak memory (max RSS of the process tree) of
(b)-(d). Ratios are to (a).

The generated corpus is one 1.8 MB file: a small module class holding one unregistered tensor among
40,000 small plain functions. nnreg's cost there should follow the class, not the file: (b) stays
within a quarter of (a).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import fetch  # noqa: E402

GENERATED = "generated"  # the requirement that names the generated corpus (``--corpus generated``)
TITLES = {GENERATED: "generated: one module class among 40,000 plain functions (1.8 MB)"}
GENERATED_CLASS = '''

class Masked(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(3)

    def forward(self, x):
        return x * self.mask
'''

CORPORA = {"timm==1.0.31": "timm", "transformers==5.23.0": "transformers", GENERATED: "generated.py"}
PARSE_ALL = """
import pathlib, sys, libcst
path = pathlib.Path(sys.argv[1])
for path in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
    try:
        libcst.parse_module(path.read_bytes())
    except libcst.ParserSyntaxError:
        pass
"""
AST_PARSE_ALL = """
import ast, pathlib, sys
path = pathlib.Path(sys.argv[1])
for path in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
    try:
        ast.parse(path.read_bytes())
    except (SyntaxError, ValueError):
        pass
"""


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS in MB of a command and every process it waited for."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed with {status}")
    return elapsed, usage.ru_maxrss // 1024


def median_of(runs: int, command: list[str], cwd: Path, before: Callable[[], object] = lambda: None) -> tuple[float, int]:
    samples = []
    for _ in range(runs):
        before()
        samples.append(timed(command, cwd))
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def generate(functions: int = 40_000) -> Path:
    """A fresh folder holding ``generated.py``: imports, ``functions`` small plain functions, and one
    small module class in the middle whose ``self.mask`` is an unregistered tensor read in forward."""
    root = Path(tempfile.mkdtemp(prefix="nnreg-bench-generated-"))
    plain = [f"\n\ndef f{i}(a, b):\n    return a * b + {i}\n" for i in range(functions)]
    middle = functions // 2
    text = "".join(["import torch\nfrom torch import nn\n", *plain[:middle], GENERATED_CLASS, *plain[middle:]])
    (root / "generated.py").write_text(text)
    return root


def bench(requirement: str, package: str, runs: int, with_torchfix: bool) -> list[tuple[str, float, int | None]]:
    root = generate() if requirement == GENERATED else fetch(requirement)
    cache = Path(tempfile.mkdtemp(prefix="nnreg-bench-"))
    script = Path(sys.executable).with_name("nnreg")  # the console script itself, not a version-manager shim
    nnreg = [str(script) if script.exists() else shutil.which("nnreg") or "nnreg",
             "check", "-q", "--exit-zero", "--cache-dir", str(cache), package]
    clear = lambda: shutil.rmtree(cache, ignore_errors=True)  # noqa: E731
    rows: list[tuple[str, float, int | None]] = []
    parse, _ = median_of(runs, [sys.executable, "-c", PARSE_ALL, package], root)
    rows.append(("(a) libcst.parse_module of every file", parse, None))
    floor, _ = median_of(runs, [sys.executable, "-c", AST_PARSE_ALL, package], root)
    rows.append(("(a0) ast.parse of every file (the floor)", floor, None))
    rows.append(("(b) nnreg check, cold, -j 1", *median_of(runs, nnreg + ["--no-cache", "-j", "1"], root)))
    rows.append((f"(c) nnreg check, cold, -j {os.cpu_count()}", *median_of(runs, nnreg + ["-j", str(os.cpu_count())], root, clear)))
    timed(nnreg, root)  # fill the cache
    rows.append(("(d) nnreg check, warm cache", *median_of(runs, nnreg, root)))
    if with_torchfix:
        rows.append(("(e) TorchFix", *median_of(runs, ["torchfix", package], root)))
    clear()
    if requirement == GENERATED:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def render(results: dict[str, list[tuple[str, float, int | None]]], runs: int) -> str:
    lines = [f"Run on {date.today().isoformat()}, {platform.platform()}, Python {platform.python_version()}, "
             f"{os.cpu_count()} cores; median of {runs} runs; peak memory is the max RSS of the process tree.", ""]
    for requirement, rows in results.items():
        base = rows[0][1]
        lines += [f"### {TITLES.get(requirement, requirement)}", "", "| measurement | seconds | ratio to (a) | peak MB |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {name} | {secs:.2f} | {secs / base:.3f} | {'' if mb is None else mb} |" for name, secs, mb in rows]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--with-torchfix", action="store_true")
    parser.add_argument("--corpus", action="append", help="pinned requirement (default: timm and transformers)")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    corpora = ({r: CORPORA.get(r, r.split("==")[0].replace("-", "_")) for r in args.corpus} if args.corpus
               else CORPORA)
    results = {r: bench(r, package, args.runs, args.with_torchfix) for r, package in corpora.items()}
    table = render(results, args.runs)
    print(table)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("# Benchmarks\n\nProduced by `python scripts/bench.py`.\n\n" + table)


if __name__ == "__main__":
    main()
