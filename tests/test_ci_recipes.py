"""The README's CI recipes and action.yml, run as written (issue 13): the install line resolves a tag,
the steps run in order with GitHub's step semantics, the SARIF upload runs after the check step failed,
and no input reaches a script except through the environment."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES, git, init_repo
from test_pr import TOKEN, FakeGitHub, github, repo  # noqa: F401 (the fixtures of the pr tests)

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SPECIAL = "models #1 100% é"  # a '#', spaces, a '%' and a non-ASCII letter: all break an unencoded URI
NET = (FIXTURES / "before_super_init_unsafe" / "input" / "net.py").read_text()


def _yaml_blocks(heading: str) -> list[dict]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}\n")[1].split("\n## ")[0]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_the_recipes_name_the_released_version() -> None:
    weekly = _yaml_blocks("Bot pull requests (`nnreg pr`)")[0]
    check, hooks = _yaml_blocks("In CI and pre-commit")
    assert weekly["jobs"]["nnreg"]["steps"][1]["uses"] == f"OWNER/nnreg@v{VERSION}"
    assert hooks["repos"][0]["rev"] == f"v{VERSION}"
    assert [s["run"] for s in check["jobs"]["nnreg"]["steps"] if "pip" in s.get("run", "")] == [
        f'pip install "nnreg @ git+https://github.com/OWNER/nnreg@v{VERSION}"']


def _sample(tmp_path: Path) -> Path:
    sample = init_repo(tmp_path / "sample")
    (sample / SPECIAL).mkdir()
    (sample / SPECIAL / "net.py").write_text(NET)
    git("add", "-A", cwd=sample)
    git("commit", "-qm", "sample", cwd=sample)
    return sample


def _runs(condition: str | None, failed: bool) -> bool:
    """GitHub's step condition, for the forms the recipes use: none means success()."""
    if condition is None:
        return not failed
    assert condition in ("${{ !cancelled() }}", "${{ always() }}"), f"unsupported condition {condition}"
    return True


def _tagged_clone(tmp_path: Path) -> Path:
    if git("status", "--porcelain", "--", "codemod", "pyproject.toml", cwd=ROOT).strip():
        pytest.skip("the install step installs the committed tree: commit first")
    clone = tmp_path / "nnreg-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    git("tag", "-f", f"v{VERSION}", cwd=clone)  # the release tag, at the tree under test (it may exist already)
    return clone


def test_the_readme_check_workflow_runs_as_written(tmp_path: Path) -> None:
    from sarif_kit.validate import validation_errors

    workflow = _yaml_blocks("In CI and pre-commit")[0]
    clone, sample = _tagged_clone(tmp_path), _sample(tmp_path)
    venv = tmp_path / "runner"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"}
    failed, log, uploaded = False, [], None
    for step in workflow["jobs"]["nnreg"]["steps"]:
        if not _runs(step.get("if"), failed):
            log.append(f"skipped {step.get('run') or step['uses']}")
            continue
        if step.get("uses", "").startswith(("actions/checkout@", "actions/setup-python@")):
            continue  # the sample repository is checked out; this Python is set up
        if step.get("uses", "").startswith("github/codeql-action/upload-sarif@"):
            sarif = sample / step["with"]["sarif_file"]
            uploaded = json.loads(sarif.read_text()) if sarif.is_file() else None
            log.append("uploaded" if uploaded else "upload failed: no SARIF file")
            continue
        script = step["run"]
        if script.startswith("pip install"):  # the same requirement, served by a tagged clone (no network here)
            script = (script.replace("pip install", "python -m pip install --quiet --no-deps --no-build-isolation "
                                     "--ignore-installed").replace("https://github.com/OWNER/nnreg", f"file://localhost{clone}"))
        done = subprocess.run(["bash", "-e", "-c", script], cwd=sample, env=env, capture_output=True, text=True,
                              timeout=600)
        why = f": {done.stderr[-300:]}" if done.returncode > 1 else ""  # an error, not findings: say which
        log.append(f"{step['run']} -> {done.returncode}{why}")
        failed = failed or done.returncode != 0
        if "--format github" in script:
            assert f"::warning file={SPECIAL.replace('%', '%25')}/net.py,line=9," in done.stdout
    installed = subprocess.run([str(venv / "bin" / "python"), "-c", "import codemod; print(codemod.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert installed.startswith(str(venv))
    assert log == [f'pip install "nnreg @ git+https://github.com/OWNER/nnreg@v{VERSION}" -> 0',
                   "nnreg check --format sarif --exit-zero --output-file nnreg.sarif . -> 0",
                   "nnreg check --format github . -> 1",  # findings fail the job...
                   "uploaded"]  # ...and the SARIF is uploaded all the same
    assert uploaded is not None and validation_errors(uploaded) == []
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in uploaded["runs"][0]["results"]}
    assert uris == {"models%20%231%20100%25%20%C3%A9/net.py"}


def _action_step(name: str) -> dict:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return next(step for step in action["runs"]["steps"] if step.get("name") == name)


def test_action_inputs_never_reach_a_script_as_expressions() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    scripts = [step["run"] for step in action["runs"]["steps"] if "run" in step]
    assert len(scripts) == 3 and not any("${{" in script for script in scripts)


@pytest.mark.parametrize(("args", "paths", "code"), [
    ("--select NR002", ".", 0),
    ('$(touch pwned) `touch pwned` ; touch pwned "*"', ".", 2),  # words, never commands or globs
])
def test_action_check_step_runs_with_inputs_from_env(tmp_path: Path, args: str, paths: str, code: int) -> None:
    step = _action_step("nnreg check")
    sample = _sample(tmp_path)
    env = {**os.environ, **step["env"], "NNREG_ARGS": args, "NNREG_PATHS": paths,
           "PATH": f"{Path(shutil.which('nnreg')).parent}:/usr/bin:/bin"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=sample, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == code, done.stderr
    assert not (sample / "pwned").exists()
    if code:
        assert done.stderr == "Error: no such file or directory: $(touch\n"
    else:
        assert json.loads((sample / "nnreg.sarif").read_text())["runs"][0]["results"][0]["ruleId"] == "NR002"
        assert f"::warning file={SPECIAL.replace('%', '%25')}/net.py,line=9," in done.stdout


def test_action_pr_step_opens_the_pull_request(repo: Path, github: str) -> None:
    step = _action_step("nnreg pr")
    env = {**os.environ, **step["env"], "GITHUB_TOKEN": TOKEN, "NNREG_ARGS": "--ambiguous skip", "NNREG_PATHS": ".",
           "GITHUB_REPOSITORY": "owner/name", "GITHUB_API_URL": github,
           "PATH": f"{Path(shutil.which('nnreg')).parent}:/usr/bin:/bin"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert [(p["number"], p["head"], p["base"]) for p in FakeGitHub.pulls] == [(1, "nnreg/register-tensors", "main")]
    assert (f"Command: `nnreg pr --push origin --open --repo owner/name --api-url {github} --ambiguous skip .`"
            in FakeGitHub.pulls[0]["body"])
    assert TOKEN not in done.stdout + done.stderr
