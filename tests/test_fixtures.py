"""Every fixture case: exact expected files, expected findings, idempotence, and diff == fix.

The cases run the CLI in this process (``conftest.nnreg``); one case runs every command through the
installed console script too, which must print and write exactly the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import CASES, Case, check_json, files_of, finding_lines, git, init_repo, nnreg, nnreg_script


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("command", [["check", "--format", "json"], ["check"], ["diff"], ["fix"]])
def test_the_console_script_does_what_the_in_process_runs_do(command: list[str], tmp_path: Path) -> None:
    """The packaging works, and the in-process harness the cases use is faithful to it."""
    case = next(c for c in CASES if files_of(c.input) != files_of(c.expected) and c.expected_findings())
    script, in_process = init_repo(tmp_path / "script"), init_repo(tmp_path / "in-process")
    for repo in (script, in_process):
        shutil.copytree(case.input, repo / "pkg")
    by_script = nnreg_script(*command, "pkg", *case.config_args, cwd=script)
    by_harness = nnreg(*command, "pkg", *case.config_args, cwd=in_process)
    assert (by_script.returncode, by_script.stdout, by_script.stderr) == (
        by_harness.returncode, by_harness.stdout, by_harness.stderr)
    assert by_script.stdout or command == ["fix"]
    assert files_of(script / "pkg") == files_of(in_process / "pkg") == files_of(
        case.expected if command == ["fix"] else case.input)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fix_produces_expected_files(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(case.input, work)
    result = nnreg("fix", str(work), *case.config_args)
    assert result.returncode == 0, result.stderr.decode()
    assert files_of(work) == files_of(case.expected)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_findings_match_expectation(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "input"
    shutil.copytree(case.input, work)
    report = check_json(str(work), *case.config_args)
    assert finding_lines(report) == case.expected_findings()
    assert report["errors"] == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_second_run_changes_nothing(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(case.expected, work)
    before = files_of(work)
    result = nnreg("fix", str(work), *case.config_args)
    assert result.returncode == 0, result.stderr.decode()
    assert files_of(work) == before
    assert all(f["status"] != "fixed" for f in check_json(str(work), *case.config_args)["findings"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_diff_applies_with_git_and_agrees_with_fix(case: Case, tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    shutil.copytree(case.input, repo / "src" / "pkg")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "input", cwd=repo)
    result = nnreg("diff", ".", *case.config_args, cwd=repo)
    changes = files_of(case.input) != files_of(case.expected)
    assert result.returncode == (1 if changes else 0), result.stderr.decode()
    if changes:
        patch = tmp_path / "fix.patch"
        patch.write_bytes(result.stdout)
        git("apply", "--check", str(patch), cwd=repo)
        git("apply", str(patch), cwd=repo)
    else:
        assert result.stdout == b""
    assert files_of(repo / "src" / "pkg") == files_of(case.expected)
