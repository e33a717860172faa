"""Runtime confirmation with real torch in a separate process (meta device on the CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import nnreg, write_tree

torch = pytest.importorskip("torch")

MODULES = '''
import time

import torch
from torch import nn
from torch import zeros
import torch.nn.functional as F


def zeros(n):  # shadows the import: not a tensor at all
    return [0.0] * n


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(4)
        self.history = zeros(4)

    def forward(self, x):
        return x * self.mask + len(self.history)


class IncorrectConv(nn.Module):
    def __init__(self, precomputed_kernel):
        super().__init__()
        self.kernel = precomputed_kernel

    def forward(self, x):
        return F.conv2d(x, self.kernel, padding=1)


class NeedsArgs(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.table = torch.eye(n)

    def forward(self, x):
        return x @ self.table


class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        time.sleep(60)
        self.table = torch.eye(2)

    def forward(self, x):
        return x @ self.table


class Selector(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.randn(4)

    def forward(self, x):
        return x[:, self.weight.argmax()]


class Hidden(nn.Module):
    def __init__(self):
        super().__init__()
        self.stats = torch.zeros(4)

    def forward(self, x):
        buf = self.stats
        buf.add_(x.detach().sum(0))
        return x


class Regularised(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.weight = torch.randn(4)

    def forward(self, x):
        return self.lin(x) * self.weight + sum(p.sum() for p in self.parameters())


class Counted(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.weight = torch.randn(4)

    def forward(self, x):
        return self.lin(x) * self.weight, {"parameters": sum(p.numel() for p in self.parameters())}


class Scalar(nn.Module):
    def __init__(self, temperature=torch.tensor(0.5)):
        super().__init__()
        self.temperature = temperature

    def forward(self, x):
        return x / self.temperature


class SoftArgmax(nn.Module):
    def __init__(self, temperature: "torch.Tensor | float | None" = None):
        super().__init__()
        if temperature is None:
            temperature = torch.tensor(1.0)
        self.temperature = temperature

    def forward(self, x):
        return (x / self.temperature).softmax(-1)


class Softmax(nn.Module):
    def __init__(self, temperature: torch.Tensor | float = torch.tensor(1.0)):
        super().__init__()
        self.temperature = temperature

    def forward(self, x):
        return (x / self.temperature).softmax(-1)
'''

CONFIG = '''
[tool.nnreg.confirm]
"pkg.models:Counter" = { inputs = "torch.randn(2, 4)" }
"pkg.models:IncorrectConv" = { kwargs = { precomputed_kernel = "=torch.ones(2, 1, 3, 3)" }, inputs = "torch.randn(1, 1, 5, 5)" }
"pkg.models:Selector" = { inputs = "torch.randn(2, 4)" }
"pkg.models:Hidden" = { inputs = "torch.randn(2, 4)" }
"pkg.models:Regularised" = { inputs = "torch.randn(2, 4)" }
"pkg.models:Counted" = { inputs = "torch.randn(2, 4)" }
"pkg.models:Softmax" = { inputs = "torch.randn(2, 4)" }
"pkg.models:Scalar" = { inputs = "torch.randn(2, 4)" }
"pkg.models:SoftArgmax" = { inputs = "torch.randn(2, 4)" }
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/models.py": MODULES, "pyproject.toml": CONFIG})


def _findings(project: Path, *args: str) -> dict[str, dict]:
    result = nnreg("check", "--format", "json", "--no-cache", "--confirm-timeout", "5", *args, "pkg", cwd=project)
    assert result.returncode in (0, 1), result.stderr.decode()
    return {f"{f['class']}.{f['attribute']}": f for f in json.loads(result.stdout)["findings"]}


def test_static_findings_without_confirm(project: Path) -> None:
    found = _findings(project)
    assert found["Selector.weight"]["action"] == "parameter"
    assert found["Hidden.stats"]["persistent"] is False
    assert "Counter.history" not in found  # zeros() is the module's own function (it rebinds the import)
    assert "IncorrectConv.kernel" not in found  # an unannotated argument is only a possible tensor


def test_confirm(project: Path) -> None:
    found = _findings(project, "--confirm")
    mask = found["Counter.mask"]
    assert mask["status"] == "fixed"
    assert mask["runtime"]["attribute"]["kind"] == "tensor" and mask["runtime"]["left_behind"] is True
    assert mask["runtime"]["target"] == ("cuda" if torch.cuda.is_available() else "meta")
    assert any("runtime verification passed" in r for r in mask["reasons"])
    assert "Counter.history" not in found  # a list, statically and at run time
    kernel = found["IncorrectConv.kernel"]  # confirmed from an unannotated argument
    assert (kernel["status"], kernel["action"]) == ("fixed", "buffer")
    assert kernel["runtime"]["attribute"]["shape"] == [2, 1, 3, 3]
    needs = found["NeedsArgs.table"]  # not built: no evidence either way, so the static decision stands
    assert (needs["status"], needs["action"]) == ("fixed", "buffer")
    assert any("not built: needs n; the static decision stands" in r for r in needs["reasons"])
    assert any(r.startswith("runtime verification could not run") for r in needs["reasons"])
    slow = found["Slow.table"]
    assert slow["status"] == "fixed" and any("timed out" in r for r in slow["reasons"])
    selector = found["Selector.weight"]  # no gradient reaches it: not a Parameter after all
    assert selector["status"] == "ambiguous"
    assert any("gets no gradient" in r for r in selector["reasons"])
    hidden = found["Hidden.stats"]  # mutated through a local alias the static rules cannot follow
    assert hidden["persistent"] is True and hidden["status"] == "fixed"
    regularised = found["Regularised.weight"]  # a new Parameter would change forward's output
    assert (regularised["status"], regularised["action"]) == ("unsafe", "skip")
    assert any("forward gives a different output" in r for r in regularised["reasons"])
    counted = found["Counted.weight"]  # the first output is the same; the second one changes
    assert (counted["status"], counted["action"]) == ("unsafe", "skip")
    assert any("(at output[1]['parameters'])" in r for r in counted["reasons"])
    assert "Softmax.temperature" not in found  # Tensor | float: a tensor only for some arguments
    assert "Scalar.temperature" not in found  # 0-d at run time: works next to tensors on any device
    assert "SoftArgmax.temperature" not in found  # 0-d by default, a float when given: never a buffer


def test_confirm_counts_the_classes_built(project: Path) -> None:
    result = nnreg("check", "--format", "json", "--no-cache", "--confirm", "--confirm-timeout", "5", "pkg",
                   cwd=project)
    probe = json.loads(result.stdout)["summary"]["probe"]
    assert {k: probe[k] for k in ("built", "not_built")} == {"built": 9, "not_built": {"needs-arguments": 1, "timeout": 1}}
    assert [(c["path"], c["class"], c["why"]) for c in probe["not_built_classes"]] == [
        ("pkg/models.py", "NeedsArgs", "needs-arguments"), ("pkg/models.py", "Slow", "timeout")]
    assert probe["not_built_classes"][0]["error"] == "not built: needs n"
    assert "probe: 9 classes built, 2 not built (1 need constructor arguments, 1 timed out)" in result.stderr.decode()


def test_seed_examples_stay_fixed_without_a_recipe(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "examples" / "seed_article.py"
    (tmp_path / "seed_article.py").write_bytes(example.read_bytes())
    result = nnreg("check", "--format", "json", "--no-cache", "--confirm", "seed_article.py", cwd=tmp_path)
    found = {f"{f['class']}.{f['attribute']}": f for f in json.loads(result.stdout)["findings"]}
    for name in ("IncorrectLinear.weight", "IncorrectLinear.bias", "IncorrectConv.kernel"):
        assert found[name]["status"] == "fixed", found[name]
    assert any("not built: needs in_features, out_features" in r for r in found["IncorrectLinear.weight"]["reasons"])
    assert any("not built: needs precomputed_kernel" in r for r in found["IncorrectConv.kernel"]["reasons"])


def test_fix_with_confirm_writes_only_verified_rewrites(project: Path) -> None:
    result = nnreg("fix", "--no-cache", "--confirm", "--confirm-timeout", "5", "pkg", cwd=project)
    assert result.returncode == 0, result.stderr.decode()
    text = (project / "pkg" / "models.py").read_text()
    assert 'self.register_buffer("mask", torch.ones(4), persistent=False)' in text
    assert 'self.register_buffer("kernel", precomputed_kernel, persistent=False)' in text
    assert "self.history = zeros(4)" in text
    assert "        self.weight = torch.randn(4)\n\n    def forward(self, x):\n        return self.lin(x)" in text


@pytest.mark.parametrize("payload", ["import sys\nsys.exit(3)\n", "import ctypes\nctypes.string_at(0)\n"],
                         ids=["sys-exit", "segfault"])
def test_user_code_that_kills_the_import(project: Path, payload: str) -> None:
    models = project / "pkg" / "models.py"
    models.write_text(payload + MODULES)
    found = _findings(project, "--confirm")
    static = _findings(project)
    assert {k: (f["status"], f["action"]) for k, f in found.items()} == {
        k: (f["status"], f["action"]) for k, f in static.items()}  # nothing observed: the static decisions stand
    reasons = " ".join(r for f in found.values() for r in f["reasons"])
    assert ("SystemExit: 3" in reasons) if "exit" in payload else ("killed by signal 11" in reasons)


def test_probe_runs_under_the_given_interpreter(project: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    created = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                             capture_output=True)
    if created.returncode != 0:
        pytest.skip(f"cannot create a virtual environment here: {created.stderr.decode()[-200:]}")
    python = venv / "bin" / "python"
    found = _findings(project, "--confirm", "--python", str(python))
    assert found["Counter.mask"]["runtime"]["python"] == str(python)


def test_interpreter_and_device_are_checked_before_any_work(project: Path, tmp_path: Path) -> None:
    missing = nnreg("check", "--confirm", "--python", str(tmp_path / "nowhere" / "python"), "pkg", cwd=project)
    assert missing.returncode == 2
    assert b"--python" in missing.stderr and b"cannot run it" in missing.stderr
    if not torch.cuda.is_available():
        cuda = nnreg("check", "--confirm", "--device", "cuda", "pkg", cwd=project)
        assert cuda.returncode == 2 and b"--device cuda: CUDA is not available" in cuda.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_cuda_reproduces_the_device_error(project: Path) -> None:
    found = _findings(project, "--confirm", "--device", "cuda")
    mask = found["Counter.mask"]
    assert mask["runtime"]["target"] == "cuda" and mask["runtime"]["left_behind"] is True
    assert "Expected all tensors to be on the same device" in mask["runtime"]["forward_error"]
    assert mask["status"] == "fixed"


NOTE_PID = '''
import os, pathlib

import torch
from torch import nn

with (pathlib.Path(__file__).parent / "imports.log").open("a") as log:
    log.write(f"{os.getpid()} {__name__}\\n")


class Net{n}(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(3)

    def forward(self, x):
        return x * self.mask
'''


def test_one_probe_process_serves_every_file_and_results_are_cached(tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"net{n}.py").write_text(NOTE_PID.replace("{n}", str(n)))
    (tmp_path / "quiet.py").write_text(NOTE_PID.replace("{n}", "Q").replace("torch.ones(3)", "torch.tensor(1.0)"))
    first = nnreg("check", "--confirm", "--format", "json", "-j", "1", ".", cwd=tmp_path)
    assert first.returncode == 1, first.stderr.decode()
    imports = (tmp_path / "imports.log").read_text().split()
    pids, modules = set(imports[0::2]), imports[1::2]
    assert len(pids) == 1  # one interpreter for all files and for the verification of their rewrites
    assert sorted(set(modules)) == ["net0", "net1", "net2"]  # quiet.py has nothing to confirm: not run
    (tmp_path / "imports.log").unlink()
    again = nnreg("check", "--confirm", "--format", "json", "-j", "1", ".", cwd=tmp_path)
    assert not (tmp_path / "imports.log").exists()  # same bytes, interpreter, torch and recipe: cached
    assert json.loads(again.stdout)["findings"] == json.loads(first.stdout)["findings"]


CONTAINERS = '''
import torch
from torch import nn


def make_layer(d):
    return getattr(nn, "Linear")(d, d)  # what it builds is only known at run time


def make_thing(d):
    return d


class Factory(nn.Module):
    def __init__(self, d=4):
        super().__init__()
        self.layers = [make_layer(d) for _ in range(2)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Things(nn.Module):
    def __init__(self, d=4):
        super().__init__()
        self.lin = nn.Linear(d, d)
        self.things = [make_thing(d), nn.Tanh()]

    def forward(self, x):
        return self.things[1](self.lin(x)) * self.things[0]
'''


def test_confirm_types_the_elements_of_containers(tmp_path: Path) -> None:
    """What the factory returns is only known at run time: the probe sees modules and the rewrite is
    verified (forward compared, the contained parameters in the state_dict); a number next to a module
    stays a refusal."""
    config = '[tool.nnreg.confirm]\n"pkg.models:Factory" = { inputs = "torch.randn(2, 4)" }\n'
    project = write_tree(tmp_path, {"pkg/__init__.py": "", "pkg/models.py": CONTAINERS, "pyproject.toml": config})
    assert "Factory.layers" not in _findings(project) or _findings(project)["Factory.layers"]["status"] != "fixed"
    found = _findings(project, "--confirm")
    layers = found["Factory.layers"]
    assert (layers["status"], layers["action"]) == ("fixed", "module-list")
    assert "at run time it holds only elements of kind module" in layers["reasons"]
    assert any(r.startswith("runtime verification passed; state_dict gains the keys 'layers.0.bias'")
               for r in layers["reasons"])
    things = found["Things.things"]
    assert things["status"] == "unsafe" and "R-CONTAINER-ELEMENT" in things["reason_codes"]
    result = nnreg("fix", "--no-cache", "--confirm", "pkg", cwd=project)
    assert result.returncode == 0, result.stderr.decode()
    assert "self.layers = nn.ModuleList([make_layer(d) for _ in range(2)])" in (project / "pkg" / "models.py").read_text()
