"""nnreg pr on real git repositories, with a bare repository as the remote and a local GitHub API."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

import codemod

from conftest import NNREG, init_repo
from conftest import git as _git


def git(*args: str, cwd: Path) -> str:
    return _git(*args, cwd=cwd).strip()

TOKEN = "ghp_s3cr3t-token-value-for-tests"
NET = ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
       "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
       "        return x * self.mask\n")


def pr(repo: Path, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    if token:
        env["GITHUB_TOKEN"] = token
    return subprocess.run([NNREG, "pr", *args], cwd=repo, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    work = init_repo(tmp_path / "work")
    git("checkout", "-q", "-b", "main", cwd=work)
    (work / "pkg").mkdir()
    (work / "pkg" / "net.py").write_text(NET)
    (work / "README.md").write_text("sample\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "initial", cwd=work)
    git("remote", "add", "origin", str(remote), cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return work


def remote_sha(repo: Path, branch: str = "nnreg/register-tensors") -> str:
    listing = git("ls-remote", "--heads", "origin", branch, cwd=repo)
    return listing.split()[0] if listing else ""


def test_branch_commit_push_and_idempotence(repo: Path, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    first = pr(repo, "--push", "origin", "--body-file", str(body), "--author", "Bot <bot@example.com>")
    assert first.returncode == 0, first.stderr
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"  # back where it started
    assert (repo / "pkg" / "net.py").read_text() == NET  # main is untouched
    message = git("log", "-1", "--format=%an <%ae>%n%B", "nnreg/register-tensors", cwd=repo)
    assert message.startswith("Bot <bot@example.com>\nRegister 1 tensor with nnreg")
    assert "- pkg/net.py:8 Net.mask -> buffer (persistent=False)" in message
    changed = git("show", "nnreg/register-tensors:pkg/net.py", cwd=repo)
    assert 'self.register_buffer("mask", torch.ones(3), persistent=False)' in changed
    assert remote_sha(repo) == git("rev-parse", "nnreg/register-tensors", cwd=repo)
    text = body.read_text()
    assert text.startswith("<!-- nnreg:register-tensors -->")
    for part in ("| `pkg/net.py` | `Net` | `mask` | buffer (persistent=False) |", "Reproduce: `nnreg fix .`",
                 "# nnreg: ignore", f"nnreg {codemod.__version__}"):
        assert part in text
    pushed = remote_sha(repo)
    second = pr(repo, "--push", "origin")
    assert second.returncode == 0 and "already up to date" in second.stderr
    assert remote_sha(repo) == pushed


def test_no_findings_means_no_branch(repo: Path) -> None:
    (repo / "pkg" / "net.py").write_text("x = 1\n")
    git("commit", "-qam", "no tensors", cwd=repo)
    result = pr(repo, "--push", "origin")
    assert result.returncode == 0 and "no branch" in result.stderr
    assert git("branch", "--list", "nnreg/*", cwd=repo) == ""
    assert remote_sha(repo) == ""


def test_dirty_tree_is_refused(repo: Path) -> None:
    (repo / "README.md").write_text("edited\n")
    result = pr(repo)
    assert result.returncode == 2 and "uncommitted changes" in result.stderr


def test_a_foreign_commit_stops_force_pushing(repo: Path, tmp_path: Path) -> None:
    assert pr(repo, "--push", "origin").returncode == 0
    person = tmp_path / "person"
    subprocess.run(["git", "clone", "-q", "-b", "nnreg/register-tensors", str(tmp_path / "remote.git"), str(person)],
                   check=True)
    git("config", "user.email", "p@example.com", cwd=person)
    git("config", "user.name", "A Person", cwd=person)
    (person / "NOTES.md").write_text("reviewed\n")
    git("add", "-A", cwd=person)
    git("commit", "-qm", "review notes", cwd=person)
    git("push", "-q", "origin", "HEAD:nnreg/register-tensors", cwd=person)
    theirs = remote_sha(repo)
    (repo / "pkg" / "other.py").write_text(NET.replace("class Net", "class Other"))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "more", cwd=repo)
    result = pr(repo, "--push", "origin")
    assert result.returncode == 0 and "someone else has pushed" in result.stderr
    assert remote_sha(repo) == theirs


def test_split_by_directory(repo: Path) -> None:
    (repo / "lib").mkdir()
    (repo / "lib" / "model.py").write_text(NET)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "lib", cwd=repo)
    result = pr(repo, "--split-by", "directory", "--push", "origin")
    assert result.returncode == 0, result.stderr
    branches = sorted(git("branch", "--list", "nnreg/*", "--format=%(refname:short)", cwd=repo).split())
    assert branches == ["nnreg/register-tensors/lib", "nnreg/register-tensors/pkg"]
    assert git("diff", "--name-only", "main", "nnreg/register-tensors/lib", cwd=repo) == "lib/model.py"


class FakeGitHub(BaseHTTPRequestHandler):
    """The documented endpoints nnreg uses: list pulls by head, create, update."""

    pulls: list[dict] = []
    seen: list[tuple[str, str, dict, str]] = []
    hide_once = False  # the next listing misses everything, as when a PR is opened meanwhile

    def _reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        FakeGitHub.seen.append((method, self.path, dict(self.headers), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._reply(401, {"message": "Bad credentials"})
        if method == "GET" and self.path.startswith("/repos/owner/name/pulls?"):
            if FakeGitHub.hide_once:
                FakeGitHub.hide_once = False
                return self._reply(200, [])
            head = self.path.split("head=")[1].split("&")[0].replace("%3A", ":").replace("%2F", "/")
            return self._reply(200, [p for p in FakeGitHub.pulls if f"owner:{p['head']}" == head])
        if method == "POST" and self.path == "/repos/owner/name/pulls":
            payload = json.loads(body)
            if any(p["head"] == payload["head"] and p["state"] == "open" for p in FakeGitHub.pulls):
                return self._reply(422, {"message": "A pull request already exists"})
            pull = {"number": len(FakeGitHub.pulls) + 1, "state": "open", "merged_at": None, **payload}
            FakeGitHub.pulls.append(pull)
            return self._reply(201, pull)
        if method == "PATCH" and self.path.startswith("/repos/owner/name/pulls/"):
            number = int(self.path.rsplit("/", 1)[1])
            pull = next(p for p in FakeGitHub.pulls if p["number"] == number)
            pull.update(json.loads(body))
            return self._reply(200, pull)
        return self._reply(404, {"message": "Not Found"})

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def github() -> str:
    FakeGitHub.pulls, FakeGitHub.seen, FakeGitHub.hide_once = [], [], False
    server = HTTPServer(("127.0.0.1", 0), FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_open_creates_then_updates_and_never_reopens(repo: Path, github: str) -> None:
    args = ["--push", "origin", "--open", "--repo", "owner/name", "--api-url", github, "--draft"]
    first = pr(repo, *args, token=TOKEN)
    assert first.returncode == 0, first.stderr
    assert "opened pull request #1" in first.stderr
    assert FakeGitHub.pulls[0]["head"] == "nnreg/register-tensors" and FakeGitHub.pulls[0]["draft"] is True
    assert FakeGitHub.pulls[0]["base"] == "main" and "<!-- nnreg:register-tensors -->" in FakeGitHub.pulls[0]["body"]
    second = pr(repo, *args, token=TOKEN)
    assert second.returncode == 0 and "updated pull request #1" in second.stderr
    assert len(FakeGitHub.pulls) == 1
    FakeGitHub.pulls[0]["state"] = "closed"  # a person closed it
    third = pr(repo, *args, token=TOKEN)
    assert third.returncode == 0 and "not reopening" in third.stderr
    assert FakeGitHub.pulls[0]["state"] == "closed" and len(FakeGitHub.pulls) == 1
    for method, path, headers, body in FakeGitHub.seen:
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in path and TOKEN not in body
        assert sum(TOKEN in value for value in headers.values()) == 1
    for result in (first, second, third):
        assert TOKEN not in result.stdout and TOKEN not in result.stderr


def test_bad_token_and_duplicates(repo: Path, github: str) -> None:
    args = ["--open", "--repo", "owner/name", "--api-url", github]
    rejected = pr(repo, *args, token="wrong-" + TOKEN)
    assert rejected.returncode == 2 and "401" in rejected.stderr
    assert TOKEN not in rejected.stdout + rejected.stderr
    FakeGitHub.pulls.append({"number": 7, "state": "open", "merged_at": None, "head": "elsewhere"})
    FakeGitHub.pulls.append({"number": 8, "state": "open", "merged_at": None, "head": "nnreg/register-tensors"})
    FakeGitHub.hide_once = True
    updated = pr(repo, *args, token=TOKEN)
    assert updated.returncode == 0 and "updated pull request #8" in updated.stderr
    assert [(m, p.split("?")[0]) for m, p, _, _ in FakeGitHub.seen[-4:]] == [
        ("GET", "/repos/owner/name/pulls"), ("POST", "/repos/owner/name/pulls"), ("GET", "/repos/owner/name/pulls"),
        ("PATCH", "/repos/owner/name/pulls/8")]
    assert len(FakeGitHub.pulls) == 2
    no_token = pr(repo, *args)
    assert no_token.returncode == 2 and "GITHUB_TOKEN" in no_token.stderr
