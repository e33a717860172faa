"""Which files to look at: Python files and notebooks under the given paths, minus what git and the
user ignore.

``.gitignore`` files (at the repository root, above the path, and nested) are honoured with
``pathspec``'s git-compatible matcher, so a tree that is not a git checkout behaves the same.
Symlinks are never followed out of the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pathspec

ALWAYS_EXCLUDED = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".eggs", "__pycache__",
                             ".mypy_cache", ".pytest_cache", ".ruff_cache", ".nnreg_cache", "node_modules",
                             "__pypackages__", "build", "dist", "_build", "buck-out", ".ipynb_checkpoints"})


def project_root(start: Path) -> Path | None:
    """The enclosing git work tree, else the enclosing project (``pyproject.toml``), else None."""
    start = Path(os.path.normpath(start.absolute()))
    directory = start if start.is_dir() else start.parent
    for marker in (".git", "pyproject.toml"):
        for candidate in [directory, *directory.parents]:
            if (candidate / marker).exists():
                return candidate
    return None


def repository_root(start: Path) -> Path:
    """The root that reported and diffed paths are relative to: the project around ``start``, else the
    working directory when it contains ``start``, else ``start``'s directory."""
    found = project_root(start)
    if found is not None:
        return found
    start = Path(os.path.normpath(start.absolute()))
    directory = start if start.is_dir() else start.parent
    cwd = Path.cwd()
    return cwd if directory == cwd or cwd in directory.parents else directory


class _Ignores:
    """The .gitignore rules in force for a directory: one spec per .gitignore, matched relative to it."""

    def __init__(self, root: Path, excludes: tuple[str, ...], top: Path | None = None) -> None:
        self.root = root
        self.top = top or root  # .gitignore files above this directory are not read
        self.user = pathspec.GitIgnoreSpec.from_lines(excludes)
        self._specs: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _spec(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            lines: list[str] = []
            for name in (".gitignore",) + ((".git/info/exclude",) if directory == self.root else ()):
                try:
                    lines += (directory / name).read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    pass
            self._specs[directory] = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        return self._specs[directory]

    def excluded(self, path: Path, is_dir: bool) -> bool:
        """Matched by the user's ``exclude`` patterns (not by .gitignore files)."""
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return False
        return self.user.match_file(relative + ("/" if is_dir else ""))

    def ignored(self, path: Path, is_dir: bool) -> bool:
        if is_dir and path.name in ALWAYS_EXCLUDED:
            return True
        suffix = "/" if is_dir else ""
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return False
        if self.user.match_file(relative + suffix):
            return True
        for directory in [path.parent, *path.parent.parents]:
            spec = self._spec(directory)
            if spec is not None and spec.match_file(path.relative_to(directory).as_posix() + suffix):
                return True
            if directory in (self.root, self.top):
                break
        return False


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def discover(paths: list[Path], root: Path, excludes: tuple[str, ...] = (),
             force_exclude: bool = False, extensions: tuple[str, ...] = ("py", "ipynb")) -> Iterator[Path]:
    """Files under ``paths`` with one of ``extensions`` (``.py``, ``.ipynb``), sorted, each once.

    Paths named explicitly are always included, like black and ruff do: naming a directory that a
    .gitignore above it ignores scans it with only the .gitignore files inside it. With
    ``force_exclude`` (as pre-commit passes every changed file by name), the ``exclude`` patterns
    apply to them too.
    """
    ignores = _Ignores(root.absolute(), excludes)
    suffixes = tuple(f".{extension}" for extension in extensions)
    seen: set[Path] = set()  # resolved paths: a file and a link to it are one file
    for given in paths:
        given = Path(os.path.normpath(given.absolute()))
        if force_exclude and ignores.excluded(given, is_dir=given.is_dir()):
            continue
        if given.is_file():
            if given.resolve() not in seen:
                seen.add(given.resolve())
                yield given
            continue
        found: list[Path] = []
        scope = _Ignores(root.absolute(), excludes, top=given) if ignores.ignored(given, is_dir=True) else ignores
        for directory, dirnames, filenames in os.walk(given, followlinks=False):
            current = Path(directory)
            dirnames[:] = sorted(d for d in dirnames if not scope.ignored(current / d, is_dir=True)
                                 and not (current / d).is_symlink())
            for name in filenames:
                path = current / name
                if name.endswith(suffixes) and not scope.ignored(path, is_dir=False):
                    if path.is_symlink() and not _inside(path, root):
                        continue
                    found.append(path)
        for path in sorted(found):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path
