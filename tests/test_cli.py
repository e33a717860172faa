"""The command line through the installed console script: exit codes, streams, bad input, stdin."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, check_json, files_of, git, init_repo, nnreg

BUGGY = b"""import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(3)

    def forward(self, x):
        return x * self.mask
"""
FIXED = BUGGY.replace(b'self.mask = torch.ones(3)', b'self.register_buffer("mask", torch.ones(3), persistent=False)')
CLEAN = b"import torch\n\n\nclass Plain:\n    pass\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "net.py").write_bytes(BUGGY)
    (tmp_path / "pkg" / "clean.py").write_bytes(CLEAN)
    return tmp_path


def test_check_exit_codes(tree: Path) -> None:
    found = nnreg("check", "pkg", cwd=tree)
    assert found.returncode == 1
    assert b"pkg/net.py:8:9: NR002 [*] Net.mask should be a buffer (persistent=False)\n" in found.stdout
    assert found.stderr.decode().strip() == ("1 tensor would be registered in 1 file (1 buffer, 0 parameters); "
                                             "1 file unchanged; 1 finding fixable with `nnreg fix`")
    assert nnreg("check", "pkg", "--exit-zero", cwd=tree).returncode == 0
    assert nnreg("check", "pkg/clean.py", cwd=tree).returncode == 0
    assert nnreg("check", "missing.py", cwd=tree).returncode == 2
    assert nnreg("check", "pkg", "--ambiguous", "maybe", cwd=tree).returncode == 2


def test_quiet_prints_no_summary(tree: Path) -> None:
    result = nnreg("check", "-q", "pkg", cwd=tree)
    assert result.stderr == b""


def test_diff_exit_codes_and_writes_nothing(tree: Path) -> None:
    result = nnreg("diff", "pkg", cwd=tree)
    assert result.returncode == 1
    assert result.stdout.startswith(b"diff --git a/pkg/net.py b/pkg/net.py\n--- a/pkg/net.py\n+++ b/pkg/net.py\n")
    assert (tree / "pkg" / "net.py").read_bytes() == BUGGY
    assert nnreg("diff", "pkg", "--exit-zero", cwd=tree).returncode == 0
    clean = nnreg("diff", "pkg/clean.py", cwd=tree)
    assert (clean.returncode, clean.stdout) == (0, b"")
    assert nnreg("diff", "missing.py", cwd=tree).returncode == 2


def test_fix_exit_codes(tree: Path) -> None:
    mode = 0o754
    os.chmod(tree / "pkg" / "net.py", mode)
    assert nnreg("fix", "pkg", "--exit-non-zero-on-fix", cwd=tree).returncode == 1
    assert (tree / "pkg" / "net.py").read_bytes() == FIXED
    assert stat.S_IMODE((tree / "pkg" / "net.py").stat().st_mode) == mode
    assert (tree / "pkg" / "clean.py").read_bytes() == CLEAN
    assert nnreg("fix", "pkg", "--exit-non-zero-on-fix", cwd=tree).returncode == 0
    assert nnreg("fix", "pkg", cwd=tree).returncode == 0
    assert not list(tree.rglob("*.nnreg-tmp"))
    assert nnreg("fix", "missing.py", cwd=tree).returncode == 2
    assert nnreg("fix", "pkg", "--buffer-style", "Buffer", cwd=tree).returncode == 2


def test_python_dash_m_runs_the_same_cli(tree: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "codemod", "check", "pkg"], cwd=tree, capture_output=True)
    assert result.returncode == 1
    assert b"NR002" in result.stdout


def test_json_report_shape(tree: Path) -> None:
    report = check_json("pkg", cwd=tree)
    assert report["version"] == 1
    assert report["summary"] == {"files": 2, "changed_files": 1, "findings": 1}
    finding = report["findings"][0]
    assert {k: finding[k] for k in ("path", "line", "column", "class", "attribute", "code", "action",
                                    "persistent", "status", "runtime")} == {
        "path": "pkg/net.py", "line": 8, "column": 8, "class": "Net", "attribute": "mask", "code": "NR002",
        "action": "buffer", "persistent": False, "status": "fixed", "runtime": None}
    assert 0 < finding["confidence"] <= 1 and finding["reasons"]


def test_bad_input_is_reported_and_the_run_goes_on(tree: Path) -> None:
    (tree / "pkg" / "syntax.py").write_bytes(b"def broken(:\n")
    (tree / "pkg" / "latin.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tree / "pkg" / "binary.py").write_bytes(b"\x00\x01\x02import torch")
    unreadable = tree / "pkg" / "secret.py"
    unreadable.write_bytes(BUGGY)
    unreadable.chmod(0)
    report = check_json("pkg", cwd=tree)
    errors = {e["path"]: e["message"] for e in report["errors"]}
    assert errors["pkg/syntax.py"].startswith("cannot parse (line 1)")
    assert "not valid utf-8" in errors["pkg/latin.py"]
    assert errors["pkg/binary.py"] == "binary file (contains NUL bytes)"
    if os.geteuid() != 0:  # root reads everything
        assert errors["pkg/secret.py"].startswith("cannot read")
    assert [f["path"] for f in report["findings"]][:1] == ["pkg/net.py"]
    fixed = nnreg("fix", "pkg", cwd=tree)
    assert fixed.returncode == 1
    assert b"pkg/syntax.py: error: cannot parse" in fixed.stderr
    assert (tree / "pkg" / "net.py").read_bytes() == FIXED
    assert (tree / "pkg" / "syntax.py").read_bytes() == b"def broken(:\n"


def test_check_with_only_a_broken_file_exits_one(tree: Path) -> None:
    (tree / "broken.py").write_bytes(b"class (:\n")
    assert nnreg("check", "broken.py", cwd=tree).returncode == 1
    assert nnreg("diff", "broken.py", cwd=tree).returncode == 1
    assert nnreg("check", "broken.py", "--exit-zero", cwd=tree).returncode == 0


def test_stdin_mode(tree: Path) -> None:
    fixed = nnreg("fix", "-", "--stdin-filename", "pkg/net.py", cwd=tree, stdin=BUGGY)
    assert (fixed.returncode, fixed.stdout) == (0, FIXED)
    unchanged = nnreg("fix", "-", "--stdin-filename", "pkg/clean.py", cwd=tree, stdin=CLEAN)
    assert unchanged.stdout == CLEAN
    checked = nnreg("check", "-", "--stdin-filename", "pkg/net.py", cwd=tree, stdin=BUGGY)
    assert checked.returncode == 1 and checked.stdout.startswith(b"pkg/net.py:8:9: NR002")
    diffed = nnreg("diff", "-", "--stdin-filename", "pkg/net.py", cwd=tree, stdin=BUGGY)
    assert diffed.returncode == 1 and b'+        self.register_buffer("mask"' in diffed.stdout
    assert nnreg("check", "-", "pkg", cwd=tree, stdin=BUGGY).returncode == 2


def test_gitignore_excludes_and_symlinks(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    init_repo(tree)
    (tree / ".gitignore").write_text("generated/\n")
    (tree / "generated").mkdir()
    (tree / "generated" / "net.py").write_bytes(BUGGY)
    (tree / "pkg" / "sub").mkdir()
    (tree / "pkg" / "sub" / ".gitignore").write_text("skip_*.py\n")
    (tree / "pkg" / "sub" / "skip_me.py").write_bytes(BUGGY)
    (tree / "pkg" / "sub" / "keep.py").write_bytes(BUGGY)
    (tree / "pkg" / "vendor.py").write_bytes(BUGGY)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "net.py").write_bytes(BUGGY)
    (tree / "pkg" / "linked").symlink_to(outside, target_is_directory=True)
    (tree / "pkg" / "linked_file.py").symlink_to(outside / "net.py")
    report = check_json(".", "--exclude", "pkg/vendor.py", cwd=tree)
    assert sorted({f["path"] for f in report["findings"]}) == ["pkg/net.py", "pkg/sub/keep.py"]
    assert report["summary"]["files"] == 3
    named = check_json("generated", cwd=tree)  # naming an ignored directory scans it, like black and ruff
    assert [f["path"] for f in named["findings"]] == ["generated/net.py"]


def test_config_in_pyproject_and_unknown_keys(tree: Path) -> None:
    (tree / "pyproject.toml").write_text('[tool.nnreg]\npersistent = "always"\n')
    assert check_json("pkg", cwd=tree)["findings"][0]["persistent"] is True
    assert check_json("pkg", "--persistent", "never", cwd=tree)["findings"][0]["persistent"] is False
    (tree / "pyproject.toml").write_text('[tool.nnreg]\nfrobnicate = 1\n')
    result = nnreg("check", "pkg", cwd=tree)
    assert result.returncode == 2 and b"unknown key 'frobnicate'" in result.stderr


def test_select_and_ignore(tree: Path) -> None:
    assert check_json("pkg", "--ignore", "NR002", cwd=tree)["findings"] == []
    assert check_json("pkg", "--select", "NR001", cwd=tree)["findings"] == []
    assert len(check_json("pkg", "--select", "NR0", cwd=tree)["findings"]) == 1


def test_diff_applies_from_the_repository_root_for_a_subdirectory(tree: Path) -> None:
    init_repo(tree)
    git("add", "-A", cwd=tree)
    git("commit", "-qm", "initial", cwd=tree)
    result = nnreg("diff", ".", cwd=tree / "pkg")
    assert result.stdout.startswith(b"diff --git a/pkg/net.py")
    subprocess.run(["git", "apply", "--check", "-"], cwd=tree, input=result.stdout, check=True)


def test_no_newline_at_end_of_file_diff_applies(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "net.py").write_bytes(BUGGY.rstrip(b"\n"))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "initial", cwd=repo)
    result = nnreg("diff", ".", cwd=repo)
    assert result.stdout.endswith(b"\n\\ No newline at end of file\n")
    subprocess.run(["git", "apply", "-"], cwd=repo, input=result.stdout, check=True)
    assert (repo / "net.py").read_bytes() == FIXED.rstrip(b"\n")


def test_fix_through_a_symlink_keeps_the_link(tree: Path) -> None:
    (tree / "pkg" / "alias.py").symlink_to(tree / "pkg" / "net.py")
    result = nnreg("fix", "pkg", cwd=tree)
    assert result.returncode == 0, result.stderr.decode()
    assert (tree / "pkg" / "alias.py").is_symlink()
    assert (tree / "pkg" / "net.py").read_bytes() == FIXED
    assert b"1 tensor registered in 1 file" in result.stderr


def test_fix_refuses_a_file_changed_since_it_was_read(tmp_path: Path) -> None:
    from codemod.files import SourceError, write_atomic

    path = tmp_path / "net.py"
    path.write_bytes(b"edited meanwhile\n")
    with pytest.raises(SourceError, match="changed on disk"):
        write_atomic(path, FIXED, expected_old=BUGGY)
    assert path.read_bytes() == b"edited meanwhile\n"
    assert os.listdir(tmp_path) == ["net.py"]


def test_static_tool_runs_without_torch(tree: Path) -> None:
    """pre-commit users do not install torch: block its import and run the whole CLI."""
    code = ("import sys; sys.modules['torch'] = None; sys.argv = ['nnreg', 'diff', 'pkg']; "
            "from codemod.cli import run_main; run_main()")
    result = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True)
    assert result.returncode == 1, result.stderr.decode()
    assert b'+        self.register_buffer("mask", torch.ones(3), persistent=False)' in result.stdout


def test_examples_show_the_tool_at_work() -> None:
    examples = FIXTURES.parent.parent / "examples"
    result = nnreg("diff", str(examples))
    assert result.returncode == 1
    assert result.stdout.count(b"\n+        self.register_buffer(") >= 3
    assert b"+        self.weight = nn.Parameter(torch.randn(out_features, in_features))" in result.stdout
    assert b"+        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])" in result.stdout
    assert files_of(examples)  # diff wrote nothing: the examples stay buggy for the next reader
    assert b"self.weight = torch.randn" in (examples / "seed_article.py").read_bytes()


def test_version() -> None:
    result = nnreg("--version")
    assert result.returncode == 0 and b"nnreg, version" in result.stdout


def test_verbose_lists_every_reason(tree: Path) -> None:
    result = nnreg("check", "-v", "pkg", cwd=tree)
    assert b"deterministic constructor torch.ones" in result.stdout
    assert b"constant-like name 'mask'" in result.stdout


def test_json_is_valid_for_broken_trees(tree: Path) -> None:
    (tree / "pkg" / "syntax.py").write_bytes(b"def broken(:\n")
    result = nnreg("check", "--format", "json", "pkg", cwd=tree)
    assert result.returncode == 1
    assert json.loads(result.stdout)["errors"][0]["path"] == "pkg/syntax.py"
