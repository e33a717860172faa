"""Runtime confirmation runs repository code: only the user turns it on, and it runs fenced in."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import NNREG, git, init_repo, write_tree

torch = pytest.importorskip("torch")

# Writes a marker (and what it can see of the environment) whenever the module is imported, and
# leaves a background child behind, its process id in a file.
PAYLOAD = '''
import json, os, pathlib, subprocess, sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
(_ROOT / "imported-marker").write_text(json.dumps(dict(os.environ)))
_CHILD = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
(_ROOT / "child-pid").write_text(str(_CHILD.pid))

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(3)

    def forward(self, x):
        return x * self.mask
'''
CONFIG = "[tool.nnreg]\nconfirm = true\n"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A checked-out pull request whose config asks for runtime confirmation."""
    work = write_tree(init_repo(tmp_path / "work"),
                      {"pkg/__init__.py": "", "pkg/net.py": PAYLOAD, "pyproject.toml": CONFIG})
    git("add", "-A", cwd=work)
    git("commit", "-qm", "initial", cwd=work)
    return work


def run(work: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([NNREG, *args], cwd=work, capture_output=True, timeout=180,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", [["check"], ["diff"], ["fix"], ["pr"]])
def test_the_repository_config_never_runs_its_code(hostile: Path, command: list[str]) -> None:
    result = run(hostile, *command, "--no-cache", *(["pkg"] if command != ["pr"] else []))
    assert result.returncode in (0, 1), result.stderr.decode()
    assert not (hostile / "imported-marker").exists()
    assert b"'confirm = true' in the config is ignored" in result.stderr


def test_the_probe_is_fenced_when_the_user_asks_for_it(hostile: Path) -> None:
    result = run(hostile, "check", "--no-cache", "--confirm", "--format", "json", "pkg",
                 env={"GITHUB_TOKEN": "ghp_secret", "AWS_SECRET_ACCESS_KEY": "secret", "MY_API_KEY": "secret"})
    assert result.returncode == 1, result.stderr.decode()
    seen = json.loads((hostile / "imported-marker").read_text())  # the user asked: it ran
    assert not {"GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_API_KEY"} & set(seen)
    assert seen["PYTHONDONTWRITEBYTECODE"] == "1" and "PATH" in seen
    assert not list(hostile.rglob("__pycache__"))
    mask = json.loads(result.stdout)["findings"][0]
    assert mask["status"] == "fixed" and mask["runtime"]["left_behind"] is True
    assert _ended(int((hostile / "child-pid").read_text()))  # the probe's group was killed, its child too


def _ended(pid: int, within: float = 10.0) -> bool:
    """The process has exited (a zombie runs nothing): at once, normally; the kill may take a moment to land."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_the_environment_variable_turns_it_on(hostile: Path) -> None:
    run(hostile, "check", "--no-cache", "pkg", env={"NNREG_CONFIRM": "1"})
    assert (hostile / "imported-marker").exists()


def test_a_runaway_build_meets_the_memory_limit(tmp_path: Path) -> None:
    (tmp_path / "greedy.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Greedy(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.table = torch.ones(2**31)\n\n"
        "    def forward(self, x):\n        return x + self.table[:1]\n")
    result = run(tmp_path, "check", "--no-cache", "--confirm", "--confirm-memory", "1", "--format", "json",
                 "greedy.py")
    table = json.loads(result.stdout)["findings"][0]
    assert table["status"] == "fixed"  # not built: the static decision stands
    assert any("not built" in r and "alloc" in r for r in table["reasons"]), table["reasons"]
