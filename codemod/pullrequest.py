"""Bot pull requests (SPEC section 8): branch, fix, commit, PR body, push, open or update the PR.

Git runs as a subprocess (the user's git, their credentials for pushing). The GitHub REST API is
called with the standard library: three endpoints (list pulls by head, create, update) do not
justify a client library, and keeping the token in one header of one function keeps it auditable.
The token never appears in output, logs or errors.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .files import SourceError, write_atomic
from .findings import FileResult, Finding

TRAILER = "Nnreg-Generated: true"
DEFAULT_AUTHOR = "nnreg <nnreg@users.noreply.github.com>"
MARKER = "<!-- nnreg:register-tensors -->"


class PullRequestError(Exception):
    """Something the PR flow cannot do; the message never contains the token."""


class GitHubError(PullRequestError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PrSettings:
    base: str | None = None
    branch: str = "nnreg/register-tensors"
    split_by: str | None = None  # None or "directory"
    max_files: int = 50
    author: str = DEFAULT_AUTHOR
    body_file: Path | None = None
    push: str | None = None
    open_pr: bool = False
    repo: str | None = None
    api_url: str = "https://api.github.com"
    draft: bool = False
    command: str = "nnreg pr"
    config: Path | None = None


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise PullRequestError(f"git {args[0]} failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout.strip()


def groups(results: list[FileResult], settings: PrSettings) -> list[tuple[str, list[FileResult]]]:
    """Changed files per branch: one branch, or one per top directory split into ``max_files`` chunks."""
    changed = [r for r in results if r.changed]
    if settings.split_by != "directory":
        return [(settings.branch, changed)] if changed else []
    by_directory: dict[str, list[FileResult]] = {}
    for result in changed:
        top = result.display.split("/")[0] if "/" in result.display else "root"
        by_directory.setdefault(top, []).append(result)
    out = []
    for directory, members in sorted(by_directory.items()):
        for start in range(0, len(members), settings.max_files):
            suffix = f"-{start // settings.max_files + 1}" if len(members) > settings.max_files else ""
            out.append((f"{settings.branch}/{directory}{suffix}", members[start:start + settings.max_files]))
    return out


def commit_message(files: list[FileResult]) -> str:
    fixed = [f for r in files for f in r.findings if f.status == "fixed"]
    lines = [f"Register {len(fixed)} tensor{'s' if len(fixed) != 1 else ''} with nnreg", ""]
    lines += [f"- {f.location} {f.class_name}.{f.attribute} -> {_change(f)}" for f in fixed]
    return "\n".join(lines + ["", TRAILER, ""])


def _change(finding: Finding) -> str:
    if finding.action == "parameter":
        return "nn.Parameter"
    return f"buffer (persistent={finding.persistent})"


def _state_dict_impact(finding: Finding) -> str:
    if finding.action == "parameter" or finding.persistent:
        return f"adds key `{finding.attribute}`"
    return "unchanged"


def pr_body(files: list[FileResult], settings: PrSettings) -> str:
    fixed = [f for r in files for f in r.findings if f.status == "fixed"]
    buffers = sum(f.action == "buffer" for f in fixed)
    config = settings.config
    config_note = (f"`{config.name}` (sha256 {hashlib.sha256(config.read_bytes()).hexdigest()[:12]})"
                   if config and config.is_file() else "defaults")
    rows = [f"| `{f.path}` | `{f.class_name}` | `{f.attribute}` | {_change(f)} | {f.confidence:.2f} | "
            f"{'; '.join(r for r in f.reasons if not r.startswith('warning'))[:300].replace('|', '/')} | "
            f"{_state_dict_impact(f)} | {_runtime(f)} |" for f in fixed]
    return "\n".join([
        MARKER,
        "## Register tensors that modules hold without registering them",
        "",
        f"nnreg found {len(fixed)} tensor attribute{'s' if len(fixed) != 1 else ''} that "
        f"`.to()`/`.cuda()`/`state_dict()` (and, for Parameters, the optimizer) did not see: "
        f"{buffers} become buffers, {len(fixed) - buffers} become `nn.Parameter`.",
        "",
        "| file | class | attribute | change | confidence | reasons | state_dict | runtime evidence |",
        "| --- | --- | --- | --- | ---: | --- | --- | --- |",
        *rows,
        "",
        "Buffers with `persistent=False` keep `state_dict()` keys as they are, so existing checkpoints load "
        "with `strict=True`. New keys make old checkpoints fail `load_state_dict(strict=True)`: load them with "
        "`strict=False`, or fill the key in a `register_load_state_dict_pre_hook`.",
        "",
        f"Reproduce: `{settings.command}`",
        "",
        f"nnreg {__version__}; configuration: {config_note}.",
        "",
        "To keep a line as it is, add `# nnreg: ignore` (or `# nnreg: ignore[NR002]`) to it.",
        "",
    ])


def _runtime(finding: Finding) -> str:
    runtime = finding.runtime
    if not runtime or not runtime.get("attribute"):
        return "not run"
    left = "stays behind" if runtime.get("left_behind") else "follows"
    return f"{runtime['attribute'].get('dtype')} tensor, {left} `.to('{runtime.get('target')}')`"


def _own_commits_only(root: Path, base: str, remote_ref: str) -> bool:
    bodies = git("log", "--format=%B%x00", f"{base}..{remote_ref}", cwd=root).split("\x00")
    return all(TRAILER in body for body in bodies if body.strip())


def _author_env(author: str) -> dict[str, str]:
    name, _, email = author.partition("<")
    name, email = name.strip() or "nnreg", email.rstrip(">").strip() or "nnreg@users.noreply.github.com"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email}


def run_pull_requests(root: Path, compute: Callable[[], list[FileResult]], settings: PrSettings,
                      say: Callable[[str], None]) -> int:
    """The whole flow; returns the exit code. ``compute`` runs nnreg on the checked-out base."""
    if git("status", "--porcelain", cwd=root):
        raise PullRequestError("the working tree has uncommitted changes; commit or stash them first")
    original = git("rev-parse", "--abbrev-ref", "HEAD", cwd=root)
    base = settings.base or original
    base_sha = git("rev-parse", "--verify", f"{base}^{{commit}}", cwd=root)
    git("checkout", "-q", "--detach", base_sha, cwd=root)
    try:
        planned = groups(compute(), settings)
        if not planned:
            say("no findings to fix: no branch, no pull request")
            return 0
        for branch, files in planned:
            _one_branch(root, base, base_sha, branch, files, settings, say)
            git("checkout", "-q", "--detach", base_sha, cwd=root)
    finally:
        git("checkout", "-q", original if original != "HEAD" else base_sha, cwd=root)
    return 0


def _one_branch(root: Path, base: str, base_sha: str, branch: str, files: list[FileResult], settings: PrSettings,
                say: Callable[[str], None]) -> None:
    git("checkout", "-q", "-B", branch, base_sha, cwd=root)
    for result in files:
        try:
            write_atomic(result.path, result.fixed, result.original)  # type: ignore[arg-type]
        except SourceError as exc:
            raise PullRequestError(f"{result.display}: {exc}") from None
    git("add", "--", *[r.display for r in files], cwd=root)
    git("commit", "-q", "-m", commit_message(files), cwd=root, env=_author_env(settings.author))
    body = pr_body(files, settings)
    if settings.body_file:
        target = settings.body_file
        if settings.split_by:  # one body per branch: body-nnreg-register-tensors-pkg.md
            target = target.with_name(f"{target.stem}-{branch.replace('/', '-')}{target.suffix}")
        target.write_text(body, encoding="utf-8")
    say(f"{branch}: committed {sum(1 for r in files for f in r.findings if f.status == 'fixed')} fixes "
        f"in {len(files)} file{'s' if len(files) != 1 else ''}")
    if settings.push and not _push(root, base_sha, branch, settings.push, say):
        return
    if settings.open_pr:
        _open_or_update(branch, base, body, settings, say)


def _push(root: Path, base_sha: str, branch: str, remote: str, say: Callable[[str], None]) -> bool:
    """Push with force-with-lease, only over commits nnreg made; False when the branch is left alone."""
    remote_sha = ""
    listing = git("ls-remote", "--heads", remote, branch, cwd=root)
    if listing:
        remote_sha = listing.split()[0]
        git("fetch", "-q", remote, f"+refs/heads/{branch}:refs/nnreg/remote", cwd=root)
        if not _own_commits_only(root, base_sha, "refs/nnreg/remote"):
            say(f"{branch}: someone else has pushed to this branch; leaving it alone")
            return False
        if git("rev-parse", "refs/nnreg/remote^{tree}", cwd=root) == git("rev-parse", "HEAD^{tree}", cwd=root) and \
                git("rev-parse", "refs/nnreg/remote~1", cwd=root) == base_sha:
            say(f"{branch}: already up to date on {remote}; nothing pushed")
            return True
    git("push", "-q", f"--force-with-lease=refs/heads/{branch}:{remote_sha}", remote,
        f"HEAD:refs/heads/{branch}", cwd=root)
    say(f"{branch}: pushed to {remote}")
    return True


def _open_or_update(branch: str, base: str, body: str, settings: PrSettings, say: Callable[[str], None]) -> None:
    token = os.environ.get("GITHUB_TOKEN")
    if not token:
        raise PullRequestError("--open needs a GITHUB_TOKEN in the environment")
    if not settings.repo or "/" not in settings.repo:
        raise PullRequestError("--open needs --repo OWNER/NAME")
    owner = settings.repo.split("/")[0]
    api = GitHub(settings.api_url, settings.repo, token)
    title = "Register tensors that modules hold without registering them (nnreg)"
    pulls = api.call("GET", "pulls", query={"head": f"{owner}:{branch}", "state": "all"})
    open_pulls = [p for p in pulls if p.get("state") == "open"]
    if open_pulls:
        number = open_pulls[0]["number"]
        api.call("PATCH", f"pulls/{number}", {"title": title, "body": body})
        say(f"{branch}: updated pull request #{number}")
        return
    if any(p.get("state") == "closed" and not p.get("merged_at") for p in pulls):
        say(f"{branch}: a pull request for this branch was closed without merging; not reopening it")
        return
    try:
        created = api.call("POST", "pulls", {"title": title, "head": branch, "base": base, "body": body,
                                             "draft": settings.draft})
    except GitHubError as exc:
        opened = [p for p in api.call("GET", "pulls", query={"head": f"{owner}:{branch}", "state": "open"})]
        if exc.status != 422 or not opened:
            raise
        api.call("PATCH", f"pulls/{opened[0]['number']}", {"title": title, "body": body})  # opened meanwhile
        say(f"{branch}: updated pull request #{opened[0]['number']}")
        return
    say(f"{branch}: opened pull request #{created.get('number')}")


class GitHub:
    """The three GitHub REST calls nnreg needs. Errors name the status, never the token."""

    def __init__(self, api_url: str, repo: str, token: str) -> None:
        self.base = f"{api_url.rstrip('/')}/repos/{repo}/"
        self._token = token

    def call(self, method: str, path: str, payload: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> Any:
        import urllib.error  # imported here: every other command starts faster without http and ssl
        import urllib.parse
        import urllib.request

        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, method=method, data=json.dumps(payload).encode() if payload else None)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = {401: "the token was rejected", 403: "the token lacks permission",
                      404: "repository or pull request not found", 422: "GitHub refused the request"}
            raise GitHubError(f"GitHub API {method} {path}: {exc.code} ({detail.get(exc.code, exc.reason)})",
                              exc.code) from None
        except urllib.error.URLError as exc:
            raise PullRequestError(f"GitHub API unreachable: {exc.reason}") from None
