"""Check the construction invariant on real trees: every rewritten class that builds before ``nnreg fix``
still builds after it.

    python scripts/construction_check.py                       # every corpus of the labelled rounds
    python scripts/construction_check.py --manifest tests/realworld/round4.tsv
    python scripts/construction_check.py --tree path/to/repo   # any source tree

For each tree: ``nnreg check`` lists the classes ``fix`` would rewrite; the tree is copied and fixed;
then a child process imports each such class from the original and from the fixed copy and calls it
with no arguments (constructor defaults). A class that built before and fails after is a violation
(exit 1). Classes that cannot be imported or built without arguments before the rewrite are counted,
not judged: their dependencies or constructor arguments are not available here. This runs the
corpora's own code, so it is a script for pinned distributions, never part of nnreg.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from corpus import CACHE, fetch_all  # noqa: E402
from evaluate import read_manifest, run_nnreg  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = ["manifest.tsv", "heldout.tsv", "round3.tsv", "round4.tsv"]
# Imports each module:class given on stdin (one JSON list) and reports whether a no-argument call builds it.
_BUILDER = r"""
import importlib, json, signal, sys, warnings
warnings.simplefilter("ignore")
signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("took over 20 s")))
results = {}
for module, qualname in json.load(sys.stdin):
    signal.alarm(20)
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        obj()
        results[f"{module}:{qualname}"] = "built"
    except BaseException as exc:  # noqa: BLE001 - a corpus may raise anything, SystemExit included
        results[f"{module}:{qualname}"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        signal.alarm(0)
print("\n" + json.dumps(results))
"""


def _module_name(path: str) -> str:
    parts = Path(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _build(tree: Path, classes: list[tuple[str, str]]) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", _BUILDER], input=json.dumps(classes), capture_output=True,
                            text=True, cwd=tree, env=env, timeout=60 + 25 * len(classes))
    lines = result.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}


def check_tree(tree: Path, jobs: int = 1) -> tuple[Counter, list[str]]:
    """Counts of rewritten classes by outcome, and the violations."""
    findings = run_nnreg(tree, jobs)
    classes = sorted({(_module_name(f["path"]), f["class"]) for f in findings if f["status"] == "fixed"
                      and "<locals>" not in f["class"]})
    counts: Counter = Counter()
    violations: list[str] = []
    if not classes:
        return counts, violations
    with tempfile.TemporaryDirectory() as tmp:
        fixed = Path(tmp) / tree.name
        shutil.copytree(tree, fixed, ignore=shutil.ignore_patterns("__pycache__", ".nnreg_cache"))
        subprocess.run([sys.executable, "-m", "codemod", "fix", "-q", "--no-cache", "."], cwd=fixed,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, check=False)
        before, after = _build(tree, classes), _build(fixed, classes)
    for module, qualname in classes:
        key = f"{module}:{qualname}"
        outcome = before.get(key, "not reported")
        if outcome != "built":
            counts["not buildable before (dependencies or arguments)"] += 1
        elif after.get(key) == "built":
            counts["built before and after"] += 1
        else:
            counts["VIOLATION: built before, fails after"] += 1
            violations.append(f"{tree.name} {key}: {after.get(key)}")
    return counts, violations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, action="append", help="rounds to take corpora from (default: all)")
    parser.add_argument("--tree", type=Path, action="append", default=[], help="a source tree to check")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    trees = list(args.tree)
    if not trees:
        manifests = args.manifest or [ROOT / "tests" / "realworld" / name for name in ROUNDS]
        pins = {c.distribution: c.sha256 for m in manifests for c in read_manifest(m)}
        trees = [root for _, root in sorted(fetch_all(pins, args.cache).items())]
    total: Counter = Counter()
    violations: list[str] = []
    for tree in trees:
        counts, found = check_tree(tree, args.jobs)
        total += counts
        violations += found
        print(f"{tree.name}: {dict(counts) or 'no rewrites'}", flush=True)
    print(f"\nrewritten classes over {len(trees)} trees: {dict(total)}")
    for violation in violations:
        print(f"  {violation}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
