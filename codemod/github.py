"""The GitHub REST client of ``nnreg pr --open``, apart from the git flow.

The standard library is enough: nnreg needs four endpoints (the repository, list pulls by head,
create, update), and one function that puts the token in one header keeps it out of output, logs and
errors, where a client library's retries and debug logging would need auditing.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TITLE = "Register tensors that modules hold without registering them (nnreg)"
REPO_NAME = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})  # where http may carry the token (a test server)


class GitHubError(Exception):
    """A GitHub call that failed; ``status`` is the HTTP status (None: the API was unreachable).
    The message names the call and the status, never the token."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def target_problem(repo: str | None, api_url: str, token: str | None) -> str | None:
    """Why ``--open`` cannot work with these values, or None. Checked before the first git command, so
    that a missing token or a mistyped ``--repo`` costs no branch and no commit."""
    if not token:
        return "--open needs a GITHUB_TOKEN in the environment"
    if not repo:
        return "--open needs --repo OWNER/NAME"
    if not REPO_NAME.fullmatch(repo) or repo.split("/")[1] in (".", ".."):
        return f"--repo must be OWNER/NAME (a GitHub repository), not {repo!r}"
    parsed = urllib.parse.urlsplit(api_url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        return f"--api-url must be an http(s) URL, not {api_url!r}"
    if parsed.scheme == "http" and parsed.hostname not in LOCAL_HOSTS:
        return f"--api-url {api_url!r} would send the token in clear text: use https (http only for localhost)"
    return None


@dataclass
class GitHub:
    """The GitHub REST calls nnreg needs. Errors name the status, never the token."""

    api_url: str
    repo: str
    token: str = field(repr=False)

    @property
    def owner(self) -> str:
        return self.repo.split("/")[0]

    def call(self, method: str, path: str = "", payload: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> Any:
        import urllib.error  # imported here: every other command starts faster without http and ssl
        import urllib.request

        url = f"{self.api_url.rstrip('/')}/repos/{self.repo}" + (f"/{path}" if path else "")
        url += f"?{urllib.parse.urlencode(query)}" if query else ""
        request = urllib.request.Request(url, method=method, data=json.dumps(payload).encode() if payload else None)
        request.add_unredirected_header("Authorization", f"Bearer {self.token}")  # never follows a redirect
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = {401: "the token was rejected", 403: "the token lacks permission",
                      404: "repository or pull request not found", 422: "GitHub refused the request"}
            raise GitHubError(f"GitHub API {method} {path or 'repository'}: {exc.code} "
                              f"({detail.get(exc.code, exc.reason)})", exc.code) from None
        except urllib.error.URLError as exc:
            raise GitHubError(f"GitHub API unreachable: {exc.reason}", None) from None

    def check_access(self) -> None:
        """Read the repository once: a rejected token or a repository the token cannot see stops the
        run before any branch is made."""
        try:
            self.call("GET")
        except GitHubError as exc:
            if exc.status == 404:
                raise GitHubError(f"--repo {self.repo}: not found on {self.api_url}, or the token cannot see it",
                                  404) from None
            raise

    def open_or_update(self, branch: str, base: str, body: str, draft: bool, say: Callable[[str], None]) -> None:
        """Update the open pull request of ``branch``, or open one; never reopen one a person closed."""
        pulls = self.call("GET", "pulls", query={"head": f"{self.owner}:{branch}", "state": "all"})
        open_pulls = [p for p in pulls if p.get("state") == "open"]
        if open_pulls:
            self._update(open_pulls[0]["number"], body, branch, say)
            return
        if any(p.get("state") == "closed" and not p.get("merged_at") for p in pulls):
            say(f"{branch}: a pull request for this branch was closed without merging; not reopening it")
            return
        try:
            created = self.call("POST", "pulls", {"title": TITLE, "head": branch, "base": base, "body": body,
                                                  "draft": draft})
        except GitHubError as exc:
            opened = self.call("GET", "pulls", query={"head": f"{self.owner}:{branch}", "state": "open"})
            if exc.status != 422 or not opened:
                raise
            self._update(opened[0]["number"], body, branch, say)  # opened meanwhile
            return
        say(f"{branch}: opened pull request #{created.get('number')}")

    def _update(self, number: int, body: str, branch: str, say: Callable[[str], None]) -> None:
        self.call("PATCH", f"pulls/{number}", {"title": TITLE, "body": body})
        say(f"{branch}: updated pull request #{number}")
