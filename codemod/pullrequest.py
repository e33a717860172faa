"""Bot pull requests (SPEC section 8): branch, fix, commit, PR body, push, open or update the PR.

Git runs as a subprocess (the user's git, their credentials for pushing); the GitHub REST calls live
in ``github.py``. Everything that can refuse the run (the ``--open`` target and token, the working
tree, branch names, commits a person made on a bot branch) is checked before any branch moves.

A commit is nnreg's own when its message ends with the git trailer ``Nnreg-Generated: true``; a
branch that carries any other commit past the base is never reset, locally or on the remote.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import __version__
from .config import Setting
from .files import SourceError, write_atomic
from .findings import CONTAINER_ACTIONS, FileResult, Finding
from .github import GitHub, target_problem
from .rules import RULES

TRAILER_KEY = "Nnreg-Generated"
TRAILER = f"{TRAILER_KEY}: true"
DEFAULT_AUTHOR = "nnreg <nnreg@users.noreply.github.com>"
MARKER = "<!-- nnreg:register-tensors -->"
SPLIT_SEPARATOR = "--"  # nnreg/register-tensors--models: a sibling of nnreg/register-tensors, never a child
ROOT_GROUP = "top-level"  # the --split-by directory group of the files at the repository root
FIRST_PATHS = 5
REFUSED = ("ambiguous", "unsafe", "unconfirmed")


class PullRequestError(Exception):
    """Something the PR flow cannot do; the message never contains the token."""


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
    allow_untracked: bool = False
    token: str | None = field(default=None, repr=False)
    command: str = "nnreg pr"  # the command line as run, for the body
    reproduce: str = "nnreg fix ."  # the ``nnreg fix`` that makes the same change
    paths_named: bool = False  # paths on the command line are relative to where it ran; none: the root


@dataclass(frozen=True)
class Computed:
    """What ``compute`` found on the base: the results and the configuration they were found with."""

    results: list[FileResult]
    settings: list[Setting]
    config_file: Path | None = None
    evidence: str = "static analysis only"


@dataclass(frozen=True)
class Group:
    """One branch: the files it changes, and the files whose findings it reports without changing."""

    branch: str
    files: list[FileResult]
    context: list[FileResult] = field(default_factory=list)


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    subject: str
    generated: bool  # carries nnreg's trailer

    def __str__(self) -> str:
        return f"{self.sha[:10]} {self.subject} ({self.author})"


def git(*args: str, cwd: Path, env: dict[str, str] | None = None, strip: bool = True) -> str:
    """Run git; its output stripped, unless ``strip`` is False (``status -z`` starts with a space)."""
    completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                               env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        raise PullRequestError(f"git {args[0]} failed: {completed.stderr.strip() or completed.stdout.strip()}")
    return completed.stdout.strip() if strip else completed.stdout


# --- plan: pure functions of the results and the settings ------------------------------------------


def _ref_safe(name: str) -> str:
    """``name`` as a piece of a branch name; a name git would refuse (spaces, ``~^:?*[\\``, ``..``,
    non-ASCII, a trailing ``.`` or ``.lock``) is rewritten and tagged with a hash of the original,
    so two different directories never share a branch."""
    safe = re.sub(r"\.{2,}", "-", re.sub(r"[^A-Za-z0-9._-]", "-", name)).strip(".")
    safe = safe[:-5] + "-lock" if safe.endswith(".lock") else safe
    return safe if safe == name else f"{safe}-{_short_hash(name)}"


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:7]


def split_branch(branch: str, directory: str | None, part: int | None) -> str:
    """The branch of one ``--split-by directory`` group: ``BRANCH--DIR`` (``-N`` for the Nth part of a
    directory over ``--max-files``). A sibling of ``BRANCH``, never below it: git cannot hold both
    ``a/b`` and ``a/b/c``, so the two modes can follow each other on one repository."""
    name = f"{branch}{SPLIT_SEPARATOR}{_ref_safe(directory) if directory else ROOT_GROUP}"
    return f"{name}-{part}" if part else name


def _top(result: FileResult) -> str | None:
    return result.display.split("/")[0] if "/" in result.display else None


def _refused(result: FileResult) -> bool:
    return any(f.status in REFUSED for f in result.findings)


def groups(results: list[FileResult], settings: PrSettings) -> list[Group]:
    """Changed files per branch: one branch, or one per top directory split into ``max_files`` parts.
    Files with findings nnreg did not rewrite are reported by the (first) branch of their directory."""
    changed = [r for r in results if r.changed]
    context = [r for r in results if not r.changed and _refused(r)]
    if settings.split_by != "directory":
        return [Group(settings.branch, changed, context)] if changed else []
    directories = sorted({_top(r) for r in changed}, key=lambda d: (d is None, d or ""))
    out: list[Group] = []
    for directory in directories:
        members = [r for r in changed if _top(r) == directory]
        parts = range(0, len(members), settings.max_files)
        for number, start in enumerate(parts, 1):
            out.append(Group(split_branch(settings.branch, directory, number if len(parts) > 1 else None),
                             members[start:start + settings.max_files],
                             [r for r in context if _top(r) == directory] if number == 1 else []))
    return _distinct(out)


def _distinct(planned: list[Group]) -> list[Group]:
    """Branch names that differ only in case (one file on a case-insensitive disk), or that a directory
    name happens to share with another group's, get a hash of their files to tell them apart."""
    seen: dict[str, int] = {}
    for group in planned:
        seen[group.branch.casefold()] = seen.get(group.branch.casefold(), 0) + 1
    return [Group(f"{g.branch}-{_short_hash(g.files[0].display)}", g.files, g.context)
            if seen[g.branch.casefold()] > 1 else g for g in planned]


def blocking_message(modified: list[str], untracked: list[str], allow_untracked: bool) -> str | None:
    """What in the working tree stops the run, with the first paths, and what to do about it."""
    parts = []
    if modified:
        parts.append(f"modified files ({_first(modified)}): commit or stash them first")
    if untracked and not allow_untracked:
        parts.append(f"untracked files ({_first(untracked)}): add or remove them, or pass --allow-untracked "
                     "(untracked files never enter the commit)")
    return "the working tree has " + "; and ".join(parts) if parts else None


def _first(paths: list[str]) -> str:
    shown = ", ".join(paths[:FIRST_PATHS])
    return f"{shown} and {len(paths) - FIRST_PATHS} more" if len(paths) > FIRST_PATHS else shown


def parse_status(porcelain: str) -> tuple[list[str], list[str]]:
    """Modified (staged or not) and untracked paths from ``git status --porcelain -z``."""
    modified, untracked = [], []
    entries = iter(porcelain.split("\0"))
    for entry in entries:
        if not entry:
            continue
        code, path = entry[:2], entry[3:]
        (untracked if code == "??" else modified).append(path)
        if "R" in code or "C" in code:
            next(entries, None)  # the rename's source path
    return modified, untracked


def body_path(body_file: Path, branch: str, split: bool) -> Path:
    """``--body-file``, or with ``--split-by`` one file per branch: body-nnreg-register-tensors--pkg.md."""
    return body_file.with_name(f"{body_file.stem}-{branch.replace('/', '-')}{body_file.suffix}") if split else body_file


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _is_body(path: Path, body_file: Path | None) -> bool:
    """Whether ``path`` is a body file an earlier run wrote, so that it does not block the next run."""
    if body_file is None:
        return False
    path, body_file = path.resolve(), body_file.resolve()
    return path == body_file or (path.parent == body_file.parent and path.suffix == body_file.suffix
                                 and path.name.startswith(f"{body_file.stem}-"))


# --- messages and body --------------------------------------------------------------------------


def commit_message(files: list[FileResult]) -> str:
    fixed = [f for r in files for f in r.findings if f.status == "fixed"]
    lines = [f"Register {len(fixed)} tensor{'s' if len(fixed) != 1 else ''} with nnreg", ""]
    lines += [f"- {f.location} {f.class_name}.{f.attribute} -> {_change(f)}" for f in fixed]
    return "\n".join(lines + ["", TRAILER, ""])


def _change(finding: Finding) -> str:
    return RULES[finding.code].change(finding)


def _adds_key(finding: Finding) -> bool:
    return finding.action == "parameter" or finding.action in CONTAINER_ACTIONS or bool(finding.persistent)


def _state_dict_keys(finding: Finding) -> str:
    if finding.action in CONTAINER_ACTIONS:
        return f"adds `{finding.attribute}.*` (everything it holds)"
    return f"adds `{finding.attribute}`" if _adds_key(finding) else "none"


def _old_checkpoints(finding: Finding) -> str:
    if _adds_key(finding):
        return f"`strict=True` fails (missing `{finding.attribute}`)"
    return "load as before"


def _cell(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit].replace("|", "/")


def _runtime(finding: Finding) -> str:
    runtime = finding.runtime
    if not runtime or not runtime.get("attribute"):
        return "not run"
    left = "stays behind" if runtime.get("left_behind") else "follows"
    return f"{runtime['attribute'].get('dtype')} tensor, {left} `.to('{runtime.get('target')}')`"


def _first_reason(finding: Finding) -> str:
    reasons = finding.held_back or [reason.text for reason in finding.reasons]
    return reasons[0] if reasons else ""


def _refused_section(files: list[FileResult]) -> list[str]:
    refused = [f for r in files for f in r.findings if f.status in REFUSED]
    if not refused:
        return []
    rows = [f"| `{f.path}` | {f.position} | `{f.class_name}` | `{f.attribute}` | {f.code} | {f.status} | "
            f"{_cell(_first_reason(f))} |" for f in refused]
    return [
        "<details>",
        f"<summary>{len(refused)} finding{'s' if len(refused) != 1 else ''} reported but not rewritten "
        "(left to a person)</summary>",
        "",
        "| file | line | class | attribute | code | status | first reason |",
        "| --- | ---: | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "</details>",
        "",
    ]


def _configuration(computed: Computed) -> list[str]:
    if computed.config_file and computed.config_file.is_file():
        digest = hashlib.sha256(computed.config_file.read_bytes()).hexdigest()[:12]
        source = f"`{computed.config_file.name}` (sha256 {digest})"
    else:
        source = "none (no `[tool.nnreg]` found)"
    rows = [f"| `{s.key}` | `{_cell(s.value)}` | {s.source} |" for s in computed.settings]
    return [f"Configuration file: {source}. Runtime evidence: {computed.evidence}.", "",
            "| setting | value | from |", "| --- | --- | --- |", *rows]


def pr_body(group: Group, computed: Computed, settings: PrSettings) -> str:
    """The pull request description: what changes and what it does to checkpoints, what nnreg left to a
    person, and exactly how it ran, so a reviewer can reproduce and judge it."""
    fixed = [f for r in group.files for f in r.findings if f.status == "fixed"]
    buffers = sum(f.action == "buffer" for f in fixed)
    rows = [f"| `{f.path}` | `{f.class_name}` | `{f.attribute}` | {_change(f)} | {f.confidence:.2f} | "
            f"{_cell('; '.join(r.text for r in f.reasons if r.kind != 'warning'))} | "
            f"{_state_dict_keys(f)} | {_old_checkpoints(f)} | {_runtime(f)} |" for f in fixed]
    return "\n".join([
        MARKER,
        "## Register tensors that modules hold without registering them",
        "",
        f"nnreg found {len(fixed)} tensor attribute{'s' if len(fixed) != 1 else ''} that "
        f"`.to()`/`.cuda()`/`state_dict()` (and, for Parameters, the optimizer) did not see: "
        f"{buffers} become buffers, {len(fixed) - buffers} become `nn.Parameter`.",
        "",
        "| file | class | attribute | change | confidence | reasons | state_dict keys | old checkpoints | "
        "runtime evidence |",
        "| --- | --- | --- | --- | ---: | --- | --- | --- | --- |",
        *rows,
        "",
        "Keys are relative to the module: inside a model they carry its prefix (`encoder.mask`). Buffers with "
        "`persistent=False` add no key, so existing checkpoints load with `strict=True`. A new key makes an old "
        "checkpoint fail `load_state_dict(strict=True)`: load it with `strict=False`, or fill the key in a "
        "`register_load_state_dict_pre_hook`.",
        "",
        *_refused_section(group.files + group.context),
        "### How this was made",
        "",
        f"Command: `{settings.command}`",
        "",
        f"Reproduce the change: `{settings.reproduce}`",
        "",
        *_configuration(computed),
        "",
        f"nnreg {__version__}. To keep a line as it is, add `# nnreg: ignore` (or `# nnreg: ignore[NR002]`) "
        "to it.",
        "",
    ])


def reproduce_command(argv: list[str], takes_value: dict[str, bool], pr_only: set[str]) -> str:
    """The ``nnreg fix`` that makes the change ``nnreg pr`` made: the same arguments without the
    options only ``pr`` has (``.`` when no path was named: ``pr`` then scans the repository root)."""
    kept: list[str] = []
    paths = False
    words = iter(argv)
    for word in words:
        option = word.split("=", 1)[0]
        value = [next(words, "")] if takes_value.get(option) and "=" not in word else []
        if option not in pr_only:
            kept += [word, *value]
        paths = paths or not word.startswith("-") or word == "-"
    return shlex.join(["nnreg", "fix", *kept, *([] if paths else ["."])])


# --- the flow ------------------------------------------------------------------------------------


def connect(settings: PrSettings) -> GitHub | None:
    """The GitHub client of ``--open``, its values and the token's access checked: before any git
    command, so that a missing or rejected token costs no branch and no commit."""
    if not settings.open_pr:
        return None
    problem = target_problem(settings.repo, settings.api_url, settings.token)
    if problem:
        raise PullRequestError(problem)
    github = GitHub(settings.api_url, settings.repo or "", settings.token or "")
    github.check_access()
    return github


def run_pull_requests(cwd: Path, compute: Callable[[Path], Computed], settings: PrSettings,
                      say: Callable[[str], None]) -> int:
    """The whole flow; returns the exit code. ``compute`` runs nnreg on the checked-out base of the
    repository whose root it is given."""
    github = connect(settings)
    try:
        root = Path(git("rev-parse", "--show-toplevel", cwd=cwd))
    except PullRequestError:
        raise PullRequestError("nnreg pr runs in a git checkout") from None
    folder = os.path.relpath(cwd.resolve(), root.resolve())
    if folder != "." and settings.paths_named:  # its paths are relative to where it ran (none: the root)
        settings = replace(settings, reproduce=f"cd {shlex.quote(folder)} && {settings.reproduce}")
    untracked = _check_tree(root, settings)
    original = git("rev-parse", "--abbrev-ref", "HEAD", cwd=root)
    base = settings.base or original
    base_sha = git("rev-parse", "--verify", f"{base}^{{commit}}", cwd=root)
    git("checkout", "-q", "--detach", base_sha, cwd=root)
    try:
        computed = compute(root)
        results = [r for r in computed.results if r.display not in untracked]
        left_out = [r.display for r in computed.results if r.display in untracked and (r.changed or _refused(r))]
        if left_out:
            say(f"left out untracked files with findings (--allow-untracked): {_first(left_out)}")
        planned = groups(results, settings)
        if not planned:
            say("no findings to fix: no branch, no pull request")
            return 0
        leases = _check_branches(root, base_sha, [g.branch for g in planned], settings.push)
        for group in planned:
            try:
                _one_branch(root, base, base_sha, group, computed, settings, leases, github, say)
            except BaseException:  # a failed commit (a hook, signing) must not carry nnreg's writes back
                git("reset", "-q", "--hard", cwd=root)  # the tree was clean before: only nnreg's writes go
                raise
            git("checkout", "-q", "--detach", base_sha, cwd=root)
    finally:
        git("checkout", "-q", original if original != "HEAD" else base_sha, cwd=root)
    return 0


def _check_tree(root: Path, settings: PrSettings) -> set[str]:
    """Stop on changes a checkout could carry into the commit or lose; returns the untracked paths
    that ``--allow-untracked`` lets stay (none of them is ever written or committed)."""
    if settings.body_file and _inside(settings.body_file, root) and \
            git("ls-files", "--", str(settings.body_file), cwd=root):
        raise PullRequestError(f"--body-file {settings.body_file} is a file git tracks: nnreg would overwrite it; "
                               "choose an untracked or ignored path")
    status = git("status", "--porcelain=v1", "-z", "--untracked-files=all", cwd=root, strip=False)
    modified, untracked = parse_status(status)
    untracked = [p for p in untracked if not _is_body(root / p, settings.body_file)]
    message = blocking_message(modified, untracked, settings.allow_untracked)
    if message:
        raise PullRequestError(message)
    return set(untracked)


def _check_branches(root: Path, base_sha: str, branches: list[str], remote: str | None) -> dict[str, str]:
    """Before any branch moves: each one can exist beside the others in git's ref namespace, and
    carries no commit past the base that nnreg did not make, locally or on ``remote``. Returns the
    remote commit checked per branch, the lease of its push."""
    problems = [p for branch in branches for p in _namespace_problems(root, branch)]
    leases = {}
    for branch in branches:
        local = git("for-each-ref", "--format=%(objectname)", f"refs/heads/{branch}", cwd=root)
        if local:
            problems += _foreign_problem(root, base_sha, branch, local, "")
        listing = git("ls-remote", "--heads", remote, f"refs/heads/{branch}", cwd=root) if remote else ""
        if listing:
            leases[branch] = listing.split()[0]
            git("fetch", "-q", remote or "", f"refs/heads/{branch}", cwd=root)
            problems += _foreign_problem(root, base_sha, branch, leases[branch], f" on {remote}")
    if problems:
        raise PullRequestError("\n".join(problems))
    return leases


def namespace_conflicts(branch: str, existing: list[str]) -> list[str]:
    """The existing branches that keep ``branch`` from being created: git cannot hold a branch ``a/b``
    beside ``a/b/c``, in either order."""
    parents = {"/".join(branch.split("/")[:n]) for n in range(1, branch.count("/") + 1)}
    return [other for other in existing if other in parents or other.startswith(f"{branch}/")]


def _namespace_problems(root: Path, branch: str) -> list[str]:
    existing = git("for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/", cwd=root).split("\n")
    return [f"{branch}: cannot be created beside the branch {other} (git cannot hold a branch and a folder of "
            f"branches with one name); delete {other} or pass --branch NAME"
            for other in namespace_conflicts(branch, existing)]


def _foreign_problem(root: Path, base_sha: str, branch: str, sha: str, where: str) -> list[str]:
    foreign = [c for c in _commits(root, base_sha, sha) if not c.generated]
    if not foreign:
        return []
    return [f"{branch}{where} carries {len(foreign)} commit{'s' if len(foreign) != 1 else ''} nnreg did not make "
            f"(no '{TRAILER}' trailer): {'; '.join(str(c) for c in foreign)}. nnreg never moves a branch with "
            "someone else's commits: merge or move them, delete the branch, or pass --branch NAME"]


def _commits(root: Path, base_sha: str, tip: str) -> list[Commit]:
    """The commits on ``tip`` past the base, and whether each carries nnreg's trailer (read as a git
    trailer, so a message that merely quotes it does not count)."""
    fmt = f"%H%x1f%an <%ae>%x1f%s%x1f%(trailers:key={TRAILER_KEY},valueonly)%x1e"
    listing = git("log", f"--format={fmt}", f"{base_sha}..{tip}", cwd=root)
    commits = []
    for record in filter(None, (r.strip() for r in listing.split("\x1e"))):
        sha, author, subject, value = (record.split("\x1f") + [""])[:4]
        commits.append(Commit(sha, author, subject, value.strip() == "true"))
    return commits


def _author_env(author: str) -> dict[str, str]:
    name, _, email = author.partition("<")
    name, email = name.strip() or "nnreg", email.rstrip(">").strip() or "nnreg@users.noreply.github.com"
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email}


def _one_branch(root: Path, base: str, base_sha: str, group: Group, computed: Computed, settings: PrSettings,
                leases: dict[str, str], github: GitHub | None, say: Callable[[str], None]) -> None:
    branch, files = group.branch, group.files
    git("checkout", "-q", "-B", branch, base_sha, cwd=root)
    for result in files:
        try:
            write_atomic(result.path, result.fixed, result.original)  # type: ignore[arg-type]
        except SourceError as exc:
            raise PullRequestError(f"{result.display}: {exc}") from None
    git("add", "--", *[r.display for r in files], cwd=root)
    git("commit", "-q", "-m", commit_message(files), cwd=root, env=_author_env(settings.author))
    body = pr_body(group, computed, settings)
    if settings.body_file:
        body_path(settings.body_file, branch, bool(settings.split_by)).write_text(body, encoding="utf-8")
    say(f"{branch}: committed {sum(1 for r in files for f in r.findings if f.status == 'fixed')} fixes "
        f"in {len(files)} file{'s' if len(files) != 1 else ''}")
    if settings.push:
        _push(root, base_sha, branch, settings.push, leases.get(branch, ""), say)
    if github:
        github.open_or_update(branch, base, body, settings.draft, say)


def _push(root: Path, base_sha: str, branch: str, remote: str, lease: str, say: Callable[[str], None]) -> None:
    """Push with force-with-lease over ``lease``, the remote commit checked to be nnreg's own (empty:
    the branch must not exist there yet), so a push made since the check is never overwritten."""
    if lease and git("rev-parse", f"{lease}^{{tree}}", cwd=root) == git("rev-parse", "HEAD^{tree}", cwd=root) \
            and git("rev-parse", f"{lease}~1", cwd=root) == base_sha:
        say(f"{branch}: already up to date on {remote}; nothing pushed")
        return
    git("push", "-q", f"--force-with-lease=refs/heads/{branch}:{lease}", remote, f"HEAD:refs/heads/{branch}", cwd=root)
    say(f"{branch}: pushed to {remote}")
