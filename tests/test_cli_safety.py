"""What must never happen at the command line: lost data, misleading paths, silent typos (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NNREG, init_repo, nnreg

NET = ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
       "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
       "        return x * self.mask\n")
FIXED = NET.replace("self.mask = torch.ones(3)", 'self.register_buffer("mask", torch.ones(3), persistent=False)')


def test_stdin_filename_without_dash_reads_stdin_and_writes_no_file(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "other.py").write_text(NET)
    result = nnreg("fix", "--stdin-filename", "net.py", cwd=tmp_path, stdin=NET.encode())
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode() == FIXED
    assert (tmp_path / "net.py").read_text() == NET and (tmp_path / "other.py").read_text() == NET
    mixed = nnreg("fix", "--stdin-filename", "net.py", "other.py", cwd=tmp_path, stdin=NET.encode())
    assert mixed.returncode == 2 and b"--stdin-filename reads the source from stdin" in mixed.stderr
    assert (tmp_path / "other.py").read_text() == NET


def test_paths_above_the_working_directory_are_reported_under_the_root(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "src" / "pkg" / "sub").mkdir(parents=True)
    (repo / "src" / "pkg" / "net.py").write_text(NET)
    check = nnreg("check", "--no-cache", "..", cwd=repo / "src" / "pkg" / "sub")
    assert check.stdout.decode().startswith("src/pkg/net.py:8:9: NR002")
    result = nnreg("diff", "..", cwd=repo / "src" / "pkg" / "sub")
    assert result.returncode == 1
    assert result.stdout.decode().startswith("diff --git a/src/pkg/net.py b/src/pkg/net.py\n")
    applied = subprocess.run(["git", "apply", "-"], cwd=repo, input=result.stdout, capture_output=True)
    assert applied.returncode == 0, applied.stderr.decode()
    assert (repo / "src" / "pkg" / "net.py").read_text() == FIXED


def test_read_only_files_are_refused_and_left_whole(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "net.py").chmod(0o444)
    result = nnreg("fix", "--no-cache", "net.py", cwd=tmp_path)
    assert result.returncode == 1
    assert b"net.py: error: read-only file; not overwritten" in result.stderr
    assert (tmp_path / "net.py").read_text() == NET
    assert oct((tmp_path / "net.py").stat().st_mode & 0o777) == oct(0o444)


def test_hard_links_owner_group_and_mode_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    target.write_text(NET)
    target.chmod(0o640)
    os.link(target, tmp_path / "alias.py")
    inode = target.stat().st_ino
    if os.geteuid() == 0:  # root can hand the file to another user, as on a shared checkout
        os.chown(target, 65534, 65534)
    result = nnreg("fix", "--no-cache", "net.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    info = target.stat()
    assert info.st_ino == inode and (tmp_path / "alias.py").read_text() == FIXED == target.read_text()
    assert oct(info.st_mode & 0o777) == oct(0o640)
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (65534, 65534)
    assert not list(tmp_path.glob(".*.nnreg-tmp"))


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_the_owner_of_a_single_link_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    target.write_text(NET)
    os.chown(target, 65534, 65534)
    result = nnreg("fix", "--no-cache", "net.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert (target.stat().st_uid, target.stat().st_gid) == (65534, 65534) and target.read_text() == FIXED


@pytest.mark.parametrize("args, message", [
    (["--select", "NR999"], b"--select: unknown rule selector 'NR999'"),
    (["--ignore", "XX1"], b"--ignore: unknown rule selector 'XX1'"),
])
def test_unknown_selectors_are_usage_errors(tmp_path: Path, args: list[str], message: bytes) -> None:
    (tmp_path / "net.py").write_text(NET)
    result = nnreg("check", *args, "net.py", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr


def test_selectors_are_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET)
    assert nnreg("check", "--no-cache", "--select", "nr002", "net.py", cwd=tmp_path).returncode == 1
    assert nnreg("check", "--no-cache", "--select", "nr001", "net.py", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("setting, message", [
    ('select = ["NR9"]', b"select: unknown rule selector 'NR9'"),
    ('min-confidence = "high"', b"min-confidence must be a number, not 'high'"),
    ('keep-state-dict = "no"', b"keep-state-dict must be true or false, not 'no'"),
    ('confirm = "yes"', b"[tool.nnreg.confirm] must be a table of per-class recipes"),
    ('exclude = 3', b"exclude must be a string or a list of strings, not 3"),
    ('device = "tpu"', b"device must be one of auto, cuda, meta, cpu, not 'tpu'"),
])
def test_config_values_are_checked_by_type(tmp_path: Path, setting: str, message: bytes) -> None:
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "pyproject.toml").write_text(f"[tool.nnreg]\n{setting}\n")
    result = nnreg("check", "net.py", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and b"internal error" not in result.stderr


def test_documented_probe_keys_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nnreg]\ndevice = "meta"\npython = "python3"\nconfirm-timeout = 30\nconfirm-memory = 4\n\n'
        '[tool.nnreg.confirm]\n"net:Net" = { inputs = "torch.randn(2, 3)" }\n')
    result = nnreg("check", "--no-cache", "net.py", cwd=tmp_path)
    assert result.returncode == 1, result.stderr.decode()


def test_outside_any_project_the_cache_goes_to_the_user_cache_folder(tmp_path: Path) -> None:
    work, home = tmp_path / "loose", tmp_path / "home"
    work.mkdir()
    (work / "net.py").write_text(NET)
    env = {**os.environ, "XDG_CACHE_HOME": str(home / "cache"), "HOME": str(home)}
    result = subprocess.run([NNREG, "check", "net.py"], cwd=work, capture_output=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr.decode()
    assert not (work / ".nnreg_cache").exists()
    assert (home / "cache" / "nnreg").is_dir()


def test_a_folder_without_python_files_says_so(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("nothing to check\n")
    result = nnreg("check", "--no-cache", "docs", cwd=tmp_path)
    assert result.returncode == 0
    assert b"nnreg: warning: no Python files found under docs" in result.stderr


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="PEP 695 syntax parses from Python 3.12 on")
def test_newer_syntax_is_named(tmp_path: Path) -> None:
    (tmp_path / "alias.py").write_text("type Vector = list[float]\n")
    result = nnreg("check", "--no-cache", "alias.py", cwd=tmp_path)
    assert result.returncode == 1
    assert b"alias.py: error: cannot parse (line 1): needs Python 3.12 syntax (PEP 695 type parameters)" in result.stdout
