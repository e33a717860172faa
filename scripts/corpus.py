"""Download pinned distributions from PyPI and unpack their sources; nothing is vendored.

    python scripts/corpus.py timm==1.0.31 transformers==5.23.0           # prints the unpacked roots
    python scripts/corpus.py --check timm==1.0.31 transformers==5.23.0   # also runs `nnreg check` on each

Wheels are zip files: they are unpacked into ``<cache>/<name>-<version>/`` once and reused
afterwards, by every checkout: the cache is ``$NNREG_CORPORA``, else the user cache folder's
``nnreg-corpora`` (not nnreg's own cache folder, whose pruning removes what nnreg did not use).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import platformdirs

ENVIRONMENT = "NNREG_CORPORA"


def default_cache() -> Path:
    """Where wheels are kept between runs and checkouts (CI keeps this folder between jobs)."""
    return Path(os.environ.get(ENVIRONMENT) or platformdirs.user_cache_dir("nnreg-corpora"))


CACHE = default_cache()


def _unpacked(requirement: str, cache: Path) -> Path:
    name, _, version = requirement.partition("==")
    if not version:
        raise SystemExit(f"pin an exact version: {requirement}")
    return cache / f"{name}-{version}"


def fetch_all(pins: dict[str, str | None], cache: Path = CACHE) -> dict[str, Path]:
    """Unpacked source trees of pinned distributions, ``{"name==version": sha256 or None}``.

    Missing wheels are downloaded by one ``pip download`` call. When every missing pin carries a
    sha256, pip checks it (``--require-hashes``): a changed upload on PyPI stops the run instead of
    silently changing what is measured.
    """
    roots = {requirement: _unpacked(requirement, cache) for requirement in pins}
    missing = {r: sha for r, sha in pins.items() if not (roots[r] / ".complete").exists()}
    if not missing:
        return roots
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    # the sources are read, never run here: a wheel for another Python version is as good
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--ignore-requires-python", "--dest", str(downloads)]
    if all(missing.values()):
        requirements = downloads / "requirements.txt"
        requirements.write_text("".join(f"{r} --hash=sha256:{sha}\n" for r, sha in missing.items()))
        command += ["--require-hashes", "-r", str(requirements)]
    else:
        command += list(missing)
    subprocess.run(command, check=True)
    for requirement in missing:
        name, _, version = requirement.partition("==")
        wheel_prefix = name.replace("-", "_").lower() + f"-{version}-"
        wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(wheel_prefix)]
        if not wheels:
            raise SystemExit(f"no wheel downloaded for {requirement}")
        with zipfile.ZipFile(wheels[0]) as archive:
            archive.extractall(roots[requirement])
        (roots[requirement] / ".complete").touch()
    return roots


def fetch(requirement: str, cache: Path = CACHE) -> Path:
    """Unpacked source tree of one pinned distribution (``name==version``)."""
    return fetch_all({requirement: None}, cache)[requirement]


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
