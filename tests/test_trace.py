"""``nnreg trace``: evidence recorded from the project's own test run, used later without running anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import init_repo, nnreg, nnreg_script, write_tree

pytest.importorskip("torch")

LAYERS = '''
import pathlib

import torch
from torch import nn

pathlib.Path(__file__).with_name("imported").write_text("yes")


class Scaler(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


class Tracker(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, n)
        self.seen = torch.zeros(n)

    def forward(self, x):
        total = self.seen
        total.add_(x.detach().sum(0))
        return self.lin(x)


class Mixed(nn.Module):
    def __init__(self, temperature):
        super().__init__()
        self.temperature = temperature

    def forward(self, x):
        return x / self.temperature
'''
TESTS = '''
import torch

from pkg.layers import Mixed, Scaler, Tracker


def test_scaler():
    assert Scaler(torch.full((3,), 2.0))(torch.ones(2, 3)).sum() == 12


def test_tracker():
    model = Tracker(3)
    model(torch.ones(2, 3))
    model(torch.ones(2, 3))
    assert model.seen.sum() == 12


def test_mixed():
    assert Mixed(2.0)(torch.ones(2)).sum() == 1
    assert Mixed(torch.tensor(2.0))(torch.ones(2)).sum() == 1
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tree(init_repo(tmp_path / "work"),
                      {"pkg/__init__.py": "", "pkg/layers.py": LAYERS, "tests/test_layers.py": TESTS})


def findings(project: Path, *args: str) -> dict[str, dict]:
    result = nnreg("check", "--no-cache", "--format", "json", *args, "pkg", cwd=project)
    assert result.returncode in (0, 1), result.stderr.decode()
    return {f"{f['class']}.{f['attribute']}": f for f in json.loads(result.stdout)["findings"]}


def test_trace_then_check_uses_what_the_tests_saw(project: Path) -> None:
    """End to end, through the installed console script (the other tests run the CLI in-process)."""
    traced = nnreg_script("trace", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert traced.returncode == 0, traced.stdout.decode() + traced.stderr.decode()
    evidence = project / ".nnreg_trace" / "trace.json"
    assert (project / ".nnreg_trace" / ".gitignore").read_text().splitlines()[-1] == "*"
    (project / "pkg" / "imported").unlink()

    static = findings(project)
    assert "Scaler.scale" not in static  # an unannotated argument: only runtime can type it
    assert static["Tracker.seen"]["persistent"] is False  # changed through a local alias nnreg cannot follow

    found = findings(project, "--trace", str(evidence))
    assert not (project / "pkg" / "imported").exists()  # using the evidence runs nothing
    scale = found["Scaler.scale"]
    assert (scale["status"], scale["action"], scale["runtime"]["source"]) == ("fixed", "buffer", "trace")
    assert scale["runtime"]["attribute"]["shape"] == [3]
    seen = found["Tracker.seen"]
    assert (seen["status"], seen["persistent"], seen["runtime"]["source"]) == ("fixed", True, "trace")
    assert any("changed in place while the traced run called the module" in r for r in seen["reasons"])
    assert "Mixed.temperature" not in found  # a float in one test, a tensor in another: not a tensor to register


def test_trace_exits_with_the_command_status(project: Path, tmp_path: Path) -> None:
    output = tmp_path / "evidence.json"
    result = nnreg("trace", "--output", str(output), "--", sys.executable, "-c",
                   "import sys, torch; from pkg.layers import Scaler; Scaler(torch.ones(2)); sys.exit(3)", cwd=project)
    assert result.returncode == 3
    records = json.loads(output.read_text())["records"]
    assert [(r["class"], r["attribute"], r["kinds"]) for r in records] == [("Scaler", "scale", {"tensor": 1})]
    assert records[0]["sites"][0][1:] == [13, "__init__"]


def test_trace_and_confirm_are_exclusive_and_bad_files_are_usage_errors(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = nnreg("check", "--trace", str(bad), "pkg", cwd=project)
    assert result.returncode == 2 and b"not a trace file" in result.stderr
    both = nnreg("check", "--trace", str(bad), "--confirm", "pkg", cwd=project)
    assert both.returncode == 2 and b"use --confirm or --trace, not both" in both.stderr
