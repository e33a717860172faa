"""The ``nnreg`` command line: parses options, calls the stages, maps outcomes to exit codes.

Reports and diffs go to stdout; the summary line, warnings and errors go to stderr (SPEC section 6).
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import click
import platformdirs

from . import __version__, engine, reporting, suppression
from .cache import Cache
from .config import (ConfigError, Options, build_options, effective_settings,
                     formatter_line_length, load_table, runtime_settings, selectors)
from .discovery import discover, project_root, repository_root
from .files import SourceError, write_atomic
from .findings import FileResult
from .github import GitHubError
from .pullrequest import DEFAULT_AUTHOR, Computed, PrSettings, PullRequestError, reproduce_command, run_pull_requests
from .runtime import ConfirmSettings, ProbeSetupError, RuntimeEvidence, check_interpreter
from .tracing import DEFAULT_OUTPUT, TraceError, load_trace, run_trace


class _Fatal(click.ClickException):
    exit_code = 2


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(code.strip() for value in values for code in value.split(",") if code.strip())


def shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("paths", nargs=-1, type=click.Path(path_type=Path, allow_dash=True)),
        click.option("--select", multiple=True, help="Codes or prefixes to report (default NR)."),
        click.option("--ignore", multiple=True, help="Codes or prefixes to leave out."),
        click.option("--ambiguous", type=click.Choice(["buffer", "parameter", "skip"]),
                     help="What to do with findings whose evidence conflicts (default skip)."),
        click.option("--min-confidence", type=click.FloatRange(0, 1), help="Rewrite only findings at least this sure."),
        click.option("--persistent", type=click.Choice(["auto", "always", "never"]),
                     help="persistent= of new buffers (auto: True only for state mutated outside __init__)."),
        click.option("--buffer-style", type=click.Choice(["register_buffer", "nn.Buffer"]),
                     help="Write self.register_buffer(...) or self.x = nn.Buffer(...) (torch>=2.5)."),
        click.option("--keep-state-dict", is_flag=True, default=None,
                     help="Apply only rewrites that leave state_dict() keys unchanged."),
        click.option("--exclude", multiple=True, help="gitignore-style pattern of paths to skip."),
        click.option("--extension", multiple=True,
                     help="File kinds to look for in folders: py, ipynb (default both; `--extension py` skips notebooks)."),
        click.option("--force-exclude", is_flag=True, default=None,
                     help="Apply exclude patterns to paths named on the command line too (for pre-commit)."),
        click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="TOML file to read settings from instead of the nearest pyproject.toml."),
        click.option("--stdin-filename", type=click.Path(path_type=Path), help="Name of the source read from '-'."),
        click.option("--color/--no-color", default=None, help="Colour the report (default: when a terminal)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="all cores",
                     help="Worker processes."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the per-file cache."),
        click.option("--confirm/--no-confirm", default=None,
                     help="Run the modules to confirm findings (executes repository code: never on untrusted code; "
                          "also NNREG_CONFIRM=1, never the config file)."),
        click.option("--device", type=click.Choice(["auto", "cuda", "meta", "cpu"]),
                     help="Where --confirm moves modules (auto: cuda when available, else meta)."),
        click.option("--python", "python_path", help="Interpreter of the project for --confirm (default: this one)."),
        click.option("--confirm-timeout", type=click.FloatRange(min=1),
                     help="Seconds of user code per module file for --confirm (after torch is imported; default 60)."),
        click.option("--confirm-memory", type=click.FloatRange(min=0.5),
                     help="GiB of memory the probe may allocate (default 8)."),
        click.option("--trace", "trace_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
                     help="Use the evidence that `nnreg trace` recorded in FILE (runs nothing)."),
        click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
                     help="Cache folder (default: .nnreg_cache in the repository root)."),
        click.option("-q", "--quiet", is_flag=True, help="Print no summary line."),
        click.option("-v", "--verbose", is_flag=True, help="Show every reason behind each finding."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


@dataclass(frozen=True)
class _Run:
    results: list[FileResult]
    options: Options
    table: dict[str, Any]  # the ``[tool.nnreg]`` settings the options were built from
    config_file: Path | None  # and the file they were read from
    stdin: bytes | None = None  # the source read from stdin, if it was


def _execute(params: dict[str, Any], show_files: bool = False) -> _Run:
    """Resolve config and paths, run the pipeline, warn about suppression comments nnreg cannot read.
    With ``show_files``, list the files a run would read (as reported) and exit 0 instead, as ruff does."""
    paths: list[Path] = list(params["paths"]) or [Path(".")]
    from_stdin = Path("-") in paths
    if params["stdin_filename"] is not None and not from_stdin:
        if params["paths"]:  # as in ruff, --stdin-filename means "the source comes from stdin"
            raise _Fatal("--stdin-filename reads the source from stdin: pass '-' or no path, not "
                         + ", ".join(str(p) for p in params["paths"]))
        paths, from_stdin = [Path("-")], True
    if from_stdin and len(paths) > 1:
        raise _Fatal("'-' (stdin) cannot be combined with other paths")
    start = params["stdin_filename"] or (Path(".") if from_stdin else paths[0])
    root = repository_root(start)
    try:
        table, config_file = load_table(params["config_file"], start)
        options = build_options(table, _overrides(params), formatter_line_length(start))
    except ConfigError as exc:
        raise _Fatal(str(exc)) from None
    runtime = None if show_files else _runtime_evidence(params, table)
    if from_stdin:
        name = params["stdin_filename"] or Path("stdin.py")
        if show_files:
            _list_files([name], root)
        data = sys.stdin.buffer.read()
        return _warned(_Run(engine.run([], root, options, stdin=(name, data)), options, table, config_file, data))
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise _Fatal(f"no such file or directory: {missing[0]}")
    files = list(discover(paths, root, options.exclude, options.force_exclude, options.extension))
    if show_files:
        _list_files(files, root)
    cache = None if params["no_cache"] else Cache(params["cache_dir"] or _default_cache(start))
    if not files:
        click.echo(f"nnreg: warning: no Python files found under {', '.join(str(p) for p in paths)}", err=True)
    return _warned(_Run(engine.run(files, root, options, jobs=params["jobs"], cache=cache, progress=progress_bar,
                                   runtime=runtime), options, table, config_file))


def _warned(run: _Run) -> _Run:
    """A suppression comment with a code nnreg does not know suppresses nothing: say where, on stderr."""
    for result in run.results:
        for found in result.suppressions:
            for warning in found.warnings:
                click.echo(f"nnreg: warning: {result.display}:{found.position}: {warning}", err=True)
    return run


def _list_files(files: list[Path], root: Path) -> None:
    """``--show-files``: one path a line, as every report names it; then exit 0."""
    click.echo("".join(f"{engine.display_path(path, root)}\n" for path in files), nl=False)
    sys.exit(0)


def _overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The settings the command line gives (None or () where it gives none), over the config's."""
    return {
        "select": selectors(_codes(params["select"]), "--select"),
        "ignore": selectors(_codes(params["ignore"]), "--ignore"),
        "ambiguous": params["ambiguous"], "min_confidence": params["min_confidence"],
        "persistent": params["persistent"], "buffer_style": params["buffer_style"],
        "keep_state_dict": params["keep_state_dict"], "exclude": params["exclude"],
        "force_exclude": params["force_exclude"], "extension": _codes(params["extension"]),
    }


def _runtime_evidence(params: dict[str, Any], table: dict[str, Any]) -> RuntimeEvidence | None:
    """The probe (``--confirm``) or a recorded run (``--trace FILE``), never both."""
    if params["trace_file"] is None:
        return _confirm_settings(params, table)
    if params["confirm"]:
        raise _Fatal("use --confirm or --trace, not both")
    try:
        return load_trace(params["trace_file"])
    except TraceError as exc:
        raise _Fatal(str(exc)) from None


def _default_cache(start: Path) -> Path:
    """``.nnreg_cache`` in the project; outside any project (run from ``/``, say), the user's cache
    folder, never the working directory."""
    project = project_root(start)
    return project / ".nnreg_cache" if project else Path(platformdirs.user_cache_dir("nnreg"))


def _confirm_settings(params: dict[str, Any], table: dict[str, Any]) -> ConfirmSettings | None:
    """Runtime confirmation runs repository code, so only the user turns it on: ``--confirm`` or
    ``NNREG_CONFIRM=1``, never the repository's own config (a pull request could change it). The
    config may hold the probe's defaults and per-class recipes (arguments, inputs)."""
    try:
        defaults, recipes, asked = runtime_settings(table)
    except ConfigError as exc:
        raise _Fatal(str(exc)) from None
    if asked and not params["confirm"]:
        click.echo("nnreg: warning: 'confirm = true' in the config is ignored: only --confirm or NNREG_CONFIRM=1 "
                   "runs repository code", err=True)
    enabled = params["confirm"] if params["confirm"] is not None else os.environ.get("NNREG_CONFIRM") == "1"
    if not enabled:
        return None
    python = params["python_path"] or defaults.get("python") or sys.executable
    device = params["device"] or defaults.get("device") or "auto"
    try:
        version = check_interpreter(python, device)
    except ProbeSetupError as exc:
        raise _Fatal(str(exc)) from None
    return ConfirmSettings(python=python, device=device,
                           timeout=params["confirm_timeout"] or defaults.get("confirm_timeout") or 60.0,
                           memory_gib=params["confirm_memory"] or defaults.get("confirm_memory") or 8.0,
                           torch=version, classes=recipes)


def _colour(option: bool | None) -> bool | None:
    """``--color/--no-color``, else ``NO_COLOR`` / ``FORCE_COLOR`` (no-color.org), else None: colour
    when stdout is a terminal."""
    if option is not None:
        return option
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return None


PROGRESS_DELAY = 1.0  # seconds: a stage that ends sooner shows no bar


def progress_bar(items: Iterable[Any], length: int, label: str, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[Any]:
    """A progress bar on stderr for a stage that runs longer than about a second on a terminal (both
    stages, the libcst one included); nothing otherwise, so CI logs and piped stderr stay clean."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield from items
        return
    started, done = clock(), 0
    iterator = iter(items)
    for item in iterator:
        yield item
        done += 1
        if clock() - started >= PROGRESS_DELAY:
            break
    else:
        return
    with click.progressbar(length=length, label=label, file=stream) as bar:
        bar.update(done)
        for item in iterator:
            yield item
            bar.update(1)


def _finish(results: list[FileResult], params: dict[str, Any], written: bool) -> None:
    if not params["quiet"]:
        click.echo(reporting.summary_line(results, written), err=True)


def _unused_suppressions(run: _Run) -> list[suppression.Unused]:
    """nnreg's suppression comments that silence nothing; a file that did not parse has no verdict."""
    return [comment for r in run.results if not r.error
            for comment in suppression.unused(r.display, r.suppressions, r.findings, run.options.selects)]


def _reported(results: list[FileResult]) -> bool:
    return any(f.status != "suppressed" for r in results for f in r.findings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nnreg")
def main() -> None:
    """Find tensors that torch.nn.Modules hold without registering them, and fix them."""


@main.command()
@shared_options
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True, help="github: workflow annotations (and $GITHUB_STEP_SUMMARY when set).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 whatever is found.")
@click.option("--show-suppressed", is_flag=True, help="List findings suppressed by a comment (counted either way).")
@click.option("--statistics", "show_statistics", is_flag=True, help="Print counts per code and status instead.")
@click.option("-o", "--output-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report to this file instead of stdout.")
@click.option("--show-files", is_flag=True, help="List the files that would be checked, one a line, and exit 0.")
@click.option("--warn-unused-suppressions", is_flag=True,
              help="Report nnreg suppression comments that suppress nothing (text and JSON; exit 1 when any).")
def check(output_format: str, exit_zero: bool, show_suppressed: bool, show_statistics: bool,
          output_file: Path | None, show_files: bool, warn_unused_suppressions: bool, **params: Any) -> None:
    """Report findings. Exit 0: none, 1: findings, unreadable files or (with --warn-unused-suppressions)
    unused suppressions, 2: error."""
    run = _execute(params, show_files)
    results = run.results
    stale = _unused_suppressions(run) if warn_unused_suppressions else None
    color = False if output_file else _colour(params["color"])
    if show_statistics:
        report = reporting.statistics(results)
    elif output_format == "json":
        report = reporting.json_report(results, stale)
    elif output_format == "sarif":
        report = reporting.sarif_report(results)
    elif output_format == "github":
        report, summary = reporting.github_report(results)
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(summary)
    else:
        terminal = output_file is None and sys.stdout.isatty()
        styled = color if color is not None else terminal
        width = shutil.get_terminal_size().columns if terminal else None  # files and pipes: one line a message
        report = reporting.text_report(results, params["verbose"], styled, show_suppressed, stale or [], width)
    if output_file is not None:
        try:
            output_file.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise _Fatal(f"--output-file {output_file}: {exc.strerror or exc}") from None
    else:
        click.echo(report, nl=False, color=color)
    _finish(results, params, written=False)
    failed = _reported(results) or any(r.failed for r in results) or bool(stale)
    sys.exit(1 if failed and not exit_zero else 0)


@main.command()
@shared_options
@click.option("--exit-zero", is_flag=True, help="Exit 0 whatever is found.")
def diff(exit_zero: bool, **params: Any) -> None:
    """Print the unified diff of the fixes; write nothing. Exit 0: no change, 1: changes, 2: error."""
    results = _execute(params).results
    for result in results:
        for line in reporting.error_lines(result):
            click.echo(line, err=True)
        patch = reporting.unified_diff(result)
        if patch:
            sys.stdout.buffer.write(patch.encode(result.encoding))
    sys.stdout.flush()
    _finish(results, params, written=False)
    failed = any(r.changed or r.failed for r in results)
    sys.exit(1 if failed and not exit_zero else 0)


@main.command()
@shared_options
@click.option("--exit-non-zero-on-fix", is_flag=True, help="Exit 1 when files were changed.")
def fix(exit_non_zero_on_fix: bool, **params: Any) -> None:
    """Write the fixes in place, atomically. Exit 0: success, 1: unreadable files (or changes with
    --exit-non-zero-on-fix), 2: error."""
    run = _execute(params)
    results, stdin_source = run.results, run.stdin
    if stdin_source is not None:
        result = results[0]
        sys.stdout.buffer.write(result.fixed if result.fixed is not None else stdin_source)
        sys.stdout.flush()
    else:
        for result in results:
            if result.changed:
                try:
                    write_atomic(result.path, result.fixed, result.original)  # type: ignore[arg-type]
                except SourceError as exc:
                    result.error, result.fixed = str(exc), None
    for result in results:
        for line in reporting.error_lines(result):
            click.echo(line, err=True)
    _finish(results, params, written=True)
    changed = any(r.changed for r in results)
    sys.exit(1 if any(r.failed for r in results) or (exit_non_zero_on_fix and changed) else 0)


@main.command()
@shared_options
@click.option("--base", help="Branch or commit to start from (default: the current branch).")
@click.option("--branch", default="nnreg/register-tensors", show_default=True, help="Branch to create or reset.")
@click.option("--split-by", type=click.Choice(["directory"]), help="One branch and pull request per top directory.")
@click.option("--max-files", type=click.IntRange(min=1), default=50, show_default=True,
              help="With --split-by: at most this many files per pull request.")
@click.option("--author", default=DEFAULT_AUTHOR, show_default=True, help="Author and committer of the commit.")
@click.option("--body-file", type=click.Path(path_type=Path, dir_okay=False), help="Write the PR body here.")
@click.option("--push", "push_remote", metavar="REMOTE", help="Push the branch to this remote.")
@click.option("--open", "open_pr", is_flag=True, help="Open or update the pull request (needs GITHUB_TOKEN).")
@click.option("--repo", help="OWNER/NAME on GitHub, for --open.")
@click.option("--api-url", default="https://api.github.com", show_default=True, help="GitHub (Enterprise) API.")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--allow-untracked", is_flag=True, help="Run despite untracked files (they never enter the commit).")
def pr(**params: Any) -> None:
    """Branch, fix, commit, write the PR body; optionally push and open the pull request. Exit 0:
    success (also when nothing needs fixing), 2: error."""
    options = [p for p in click.get_current_context().command.params if isinstance(p, click.Option)]
    argv = sys.argv[2:]  # after "nnreg pr"
    settings = PrSettings(
        base=params["base"], branch=params["branch"], split_by=params["split_by"], max_files=params["max_files"],
        author=params["author"], body_file=params["body_file"].absolute() if params["body_file"] else None,
        push=params["push_remote"], open_pr=params["open_pr"], repo=params["repo"], api_url=params["api_url"],
        draft=params["draft"], allow_untracked=params["allow_untracked"], token=os.environ.get("GITHUB_TOKEN"),
        command=shlex.join(["nnreg", "pr", *argv]), paths_named=bool(params["paths"]),
        reproduce=reproduce_command(argv, {o: not p.is_flag for p in options for o in p.opts + p.secondary_opts},
                                    {o for p in options if p.name in PR_ONLY for o in p.opts}))
    try:
        code = run_pull_requests(Path.cwd(), lambda root: _pr_compute(params, root), settings,
                                 lambda line: click.echo(f"nnreg pr: {line}", err=True))
    except (PullRequestError, GitHubError) as exc:
        raise _Fatal(str(exc)) from None
    sys.exit(code)


PR_ONLY = {"base", "branch", "split_by", "max_files", "author", "body_file", "push_remote", "open_pr", "repo",
           "api_url", "draft", "allow_untracked"}


def _pr_compute(params: dict[str, Any], root: Path) -> Computed:
    """Run nnreg on the checked-out base (PATH defaults to the repository root) and say with which
    settings, read from the base's own configuration."""
    params = {**params, "paths": params["paths"] or (root,)}
    run = _execute(params)
    given = {name for name, value in _overrides(params).items() if value is not None and value != ()}
    settings = effective_settings(run.options, run.table, run.config_file and run.config_file.name, given)
    confirm = params["confirm"] if params["confirm"] is not None else os.environ.get("NNREG_CONFIRM") == "1"
    evidence = (f"recorded by `nnreg trace` ({params['trace_file']})" if params["trace_file"]
                else "--confirm ran the modules" if confirm else "static analysis only")
    return Computed(run.results, settings, run.config_file, evidence)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Where to write the evidence (default: {DEFAULT_OUTPUT} in the repository root, git-ignored).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def trace(output: Path | None, command: tuple[str, ...]) -> None:
    """Run COMMAND (your tests, a short training run) and record what its torch modules hold.

    \b
        nnreg trace -- python -m pytest -q
        nnreg check --trace .nnreg_trace/trace.json src/

    Exit status: the command's."""
    output = output or repository_root(Path(".")) / DEFAULT_OUTPUT
    try:
        status = run_trace(list(command), output)
    except TraceError as exc:
        raise _Fatal(str(exc)) from None
    click.echo(f"nnreg trace: evidence written to {output}", err=True)
    sys.exit(status)


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Print every rule.")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="markdown: docs/rules.md, every rule and the reason codes.")
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Print the documentation of rule CODE (NR001), or of every rule with --all.

    \b
        nnreg rule NR002
        nnreg rule --all --format markdown > docs/rules.md"""
    from .rules import RULES
    from .rules.documentation import as_json, markdown, rule_text

    if output_format == "markdown":
        if code is not None or not show_all:
            raise _Fatal("--format markdown writes docs/rules.md: use it with --all and no CODE")
        click.echo(markdown(), nl=False)
        return
    if show_all == (code is not None):
        raise _Fatal("give one rule CODE, or --all")
    chosen = list(RULES.values()) if show_all else [RULES.get(str(code).strip().upper())]
    if chosen[0] is None:
        raise _Fatal(f"unknown rule code '{code}' (known codes: {', '.join(RULES)})")
    if output_format == "json":
        click.echo(as_json(chosen), nl=False)  # type: ignore[arg-type]
    else:
        click.echo("\n".join(rule_text(r) for r in chosen), nl=False)  # type: ignore[union-attr]


def run_main() -> None:
    """Entry point that turns an unexpected crash into exit code 2 with a one-line message."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence of a CLI
        click.echo(f"nnreg: internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(2)
