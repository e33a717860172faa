"""Shared helpers: fixture cases, running the CLI (in-process, or the installed console script), git repositories."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from codemod.cli import run_main

FIXTURES = Path(__file__).parent / "fixtures"
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
import corpus  # noqa: E402

sys.path.remove(str(SCRIPTS))


@pytest.fixture(autouse=True, scope="session")
def _private_user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Runs outside any project cache in the user cache folder: never the tester's own one. The
    downloaded corpora stay in the tester's (``scripts/corpus.py``): they are kept between runs."""
    home = tmp_path_factory.mktemp("user-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv(corpus.ENVIRONMENT, str(corpus.default_cache()))
    patch.setenv("XDG_CACHE_HOME", str(home))
    yield
    patch.undo()


NNREG = shutil.which("nnreg")


@dataclass(frozen=True)
class Case:
    name: str
    root: Path

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def expected(self) -> Path:
        return self.root / "expected"

    @property
    def config_args(self) -> list[str]:
        config = self.root / "nnreg.toml"
        return ["--config", str(config)] if config.exists() else []

    def expected_findings(self) -> list[str]:
        return (self.root / "findings.txt").read_text().splitlines()


CASES = [Case(p.name, p) for p in sorted(FIXTURES.iterdir()) if (p / "input").is_dir()]


def files_of(tree: Path) -> dict[str, bytes]:
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()
            and "__pycache__" not in p.parts and ".nnreg_cache" not in p.parts}


def nnreg_script(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed console script in a process of its own, as users and CI do: the end-to-end
    tests, which show that the packaging works, and those where a process of its own is the point."""
    assert NNREG, "the nnreg console script is not installed (pip install -e .)"
    return subprocess.run([NNREG, *args], cwd=cwd, input=stdin, capture_output=True, timeout=120)


def nnreg(*args: str, cwd: Path | None = None, stdin: bytes | None = None,
          env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the console script's entry point (``run_main``) in this process, with its own argv, streams,
    working directory and environment (``env``: variables to set, or to unset with None): what
    ``nnreg_script`` does, without a new Python importing libcst and click for every run. The entry
    point is the same, so are the exit status, stdout and stderr."""
    previous = os.getcwd()
    argv = sys.argv
    with CliRunner().isolation(input=stdin, env=env) as (stdout, stderr, _):
        try:
            os.chdir(cwd or previous)
            sys.argv = ["nnreg", *args]
            run_main()
            status = 0
        except SystemExit as exc:
            status = _exit_status(exc.code)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.argv = argv
            os.chdir(previous)
        return subprocess.CompletedProcess(["nnreg", *args], status, stdout.getvalue(), stderr.getvalue())


def _exit_status(code: object) -> int:
    """The status a process exits with for ``sys.exit(code)`` (a message exits 1, after printing it)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def check_json(*args: str, cwd: Path | None = None) -> dict:
    result = nnreg("check", "--format", "json", *args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr.decode()
    return json.loads(result.stdout)


def finding_lines(report: dict) -> list[str]:
    """The findings of a JSON report in the one-line form of ``findings.txt``, ending with the code of
    the first refusal, else of the first doubt (``-``: neither; the letter of a code is its kind), so
    that a refusal that changes cause fails the test."""
    return [f"{f['path'].split('/input/')[-1].split('/work/')[-1]}:{f['line']} {f['class']}.{f['attribute']} "
            f"{f['code']} {f['action']} {f['status']} persistent={f['persistent']} first="
            f"{next((c for kind in 'RD' for c in f['reason_codes'] if c[0] == kind), '-')}" for f in report["findings"]]


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return result.stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=path)
    git("config", "user.email", "test@nnreg.invalid", cwd=path)
    git("config", "user.name", "nnreg test", cwd=path)
    return path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root``, folders included; returns ``root``."""
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


@pytest.fixture
def python() -> str:
    return sys.executable


def on_a_terminal(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
                  stream: str = "stdout") -> bytes:
    """Run the console script with ``stream`` (stdout or stderr) on a pseudo-terminal, the other one
    discarded; what it printed there."""
    controller, terminal = pty.openpty()
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, stream: terminal}
    process = subprocess.Popen([NNREG, *args], cwd=cwd, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                               **streams)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    process.wait()
    return shown

