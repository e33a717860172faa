"""CI integrations: SARIF for code scanning, GitHub annotations, and the pre-commit hooks for real."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CASES, FIXTURES, git, init_repo, nnreg

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fixture_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    for case in CASES:
        shutil.copytree(case.input, tree / case.name)
    (tree / "broken.py").write_bytes(b"class (:\n")
    return tree


def test_sarif_of_the_fixtures_validates_against_the_official_schema(fixture_tree: Path) -> None:
    from sarif_kit.validate import validation_errors

    result = nnreg("check", "--format", "sarif", "--no-cache", ".", cwd=fixture_tree)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    assert validation_errors(log) == []
    run = log["runs"][0]
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["NR001", "NR002", "NR101", "NR102"]
    first = run["results"][0]
    location = first["locations"][0]["physicalLocation"]
    assert not location["artifactLocation"]["uri"].startswith("/")
    assert location["region"]["startLine"] >= 1
    assert any(r.get("suppressions") for r in run["results"])
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for n in notes] == ["broken.py"]
    assert run["invocations"][0]["executionSuccessful"] is False  # a file could not be read


SPECIAL = "models #1 100% é"


def test_sarif_uris_are_percent_encoded(tmp_path: Path) -> None:
    from sarif_kit.validate import validation_errors

    net = FIXTURES / "before_super_init_unsafe" / "input" / "net.py"
    (tmp_path / SPECIAL).mkdir()
    shutil.copy(net, tmp_path / SPECIAL / "net.py")
    result = nnreg("check", "--format", "sarif", "--no-cache", ".", cwd=tmp_path)
    log = json.loads(result.stdout)
    assert validation_errors(log) == []
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"models%20%231%20100%25%20%C3%A9/net.py"}
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_github_annotations_are_capped_and_summarised(fixture_tree: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = subprocess.run([shutil.which("nnreg"), "check", "--format", "github", "--no-cache", "."],
                            cwd=fixture_tree, capture_output=True, env={"PATH": "/usr/bin:/bin:" + str(
                                Path(shutil.which("nnreg")).parent), "GITHUB_STEP_SUMMARY": str(summary)})
    lines = result.stdout.decode().splitlines()
    warnings = [line for line in lines if line.startswith(("::warning", "::notice file"))]
    assert len(warnings) == 10
    assert lines[0].startswith("::warning file=") and ",line=" in lines[0] and ",title=NR00" in lines[0]
    total = json.loads(nnreg("check", "--format", "json", "--no-cache", ".", cwd=fixture_tree).stdout)
    shown = [f for f in total["findings"] if f["status"] != "suppressed"]
    assert f"::notice title=nnreg::{len(shown) - 10} more findings" in result.stdout.decode()
    assert "::error file=broken.py,title=nnreg::cannot parse" in result.stdout.decode()
    table = summary.read_text().splitlines()
    assert table[0] == "## nnreg" and len(table) == 4 + len(shown)


def _hook_repo(tmp_path: Path, hook: str) -> Path:
    repo = init_repo(tmp_path / "sample")
    (repo / "net.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
        "        return x * self.mask\n")
    rev = git("rev-parse", "HEAD", cwd=ROOT).strip()
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {rev}\n  hooks:\n  - id: {hook}\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "sample", cwd=repo)
    return repo


def _pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin:" + str(Path(shutil.which("pre-commit")).parent), "PRE_COMMIT_HOME": str(home),
           "HOME": str(home)}
    return subprocess.run(["pre-commit", "run", "--all-files"], cwd=repo, capture_output=True, text=True, env=env,
                          timeout=900)


@pytest.mark.skipif(shutil.which("pre-commit") is None, reason="pre-commit is not installed")
def test_pre_commit_hooks_for_real(tmp_path: Path) -> None:
    if git("status", "--porcelain", "--", ".pre-commit-hooks.yaml", "codemod", "pyproject.toml", cwd=ROOT).strip():
        pytest.skip("pre-commit installs the committed hook repository: commit first")
    home = tmp_path / "pre-commit-home"
    checked = _pre_commit(_hook_repo(tmp_path / "check", "nnreg"), home)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "net.py:8:9: NR002 [*] Net.mask should be a buffer" in checked.stdout
    repo = _hook_repo(tmp_path / "fix", "nnreg-fix")
    fixed = _pre_commit(repo, home)
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # files were modified
    assert 'self.register_buffer("mask", torch.ones(3), persistent=False)' in (repo / "net.py").read_text()
    again = _pre_commit(repo, home)
    assert again.returncode == 0, again.stdout + again.stderr
