"""The text report, golden: ruff's full format, with and without colour (issue 12)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import NNREG, nnreg

SOURCE = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask = torch.ones(3)
        self.unused = torch.zeros(3)
        self.quiet = torch.ones(2)  # noqa: NR002

    def forward(self, x):
        return x * self.mask + self.quiet.sum()
'''

GOLDEN = '''net.py:8:9: NR002 [*] Net.mask should be a buffer (persistent=False)
  |
8 |         self.mask = torch.ones(3)
  |         ^^^^^^^^^ NR002
  |
  = help: register it: `self.register_buffer("mask", ..., persistent=False)`

net.py:9:9: NR002 Net.unused should be a buffer (persistent=False) (ambiguous: not rewritten)
  |
9 |         self.unused = torch.zeros(3)
  |         ^^^^^^^^^^^ NR002
  |
  = help: register it: `self.register_buffer("unused", ..., persistent=False)`
  = note: never read outside __init__ in this class (its size aside): registering it changes nothing nnreg can see
'''


def _check(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "net.py").write_text(SOURCE)
    return subprocess.run([NNREG, "check", "--no-cache", *args, "net.py"], cwd=tmp_path, capture_output=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_full_format_golden(tmp_path: Path) -> None:
    result = _check(tmp_path, "--no-color")
    assert result.returncode == 1
    assert result.stdout.decode() == GOLDEN
    assert result.stderr.decode() == ("1 tensor would be registered in 1 file (1 buffer, 0 parameters); "
                                      "1 ambiguous skipped; 1 suppressed; 0 files unchanged; "
                                      "1 finding fixable with `nnreg fix`\n")


def test_suppressed_findings_are_listed_only_on_request(tmp_path: Path) -> None:
    shown = _check(tmp_path, "--no-color", "--show-suppressed").stdout.decode()
    assert shown.startswith(GOLDEN)
    assert "net.py:10:9: NR002 Net.quiet should be a buffer (persistent=False) (suppressed)" in shown


def test_colour_follows_the_option_and_the_environment(tmp_path: Path) -> None:
    coloured = _check(tmp_path, "--color").stdout.decode()
    assert "\x1b[" in coloured and "\x1b[31m\x1b[1mNR002\x1b[0m [*] Net.mask" in coloured
    assert "\x1b[" in _check(tmp_path, env={"FORCE_COLOR": "1"}).stdout.decode()
    assert "\x1b[" not in _check(tmp_path, env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout.decode()
    assert "\x1b[" not in _check(tmp_path).stdout.decode()  # not a terminal


RED, BOLD, YELLOW, RESET = "\x1b[31m", "\x1b[1m", "\x1b[33m", "\x1b[0m"
COLOURED = f'''net.py:8:9: {RED}{BOLD}NR002{RESET} [*] Net.mask should be a buffer (persistent=False)
  |
8 |         self.mask = torch.ones(3)
  |         {RED}^^^^^^^^^{RESET} NR002
  |
  = help: register it: `self.register_buffer("mask", ..., persistent=False)`

net.py:9:9: {RED}{BOLD}NR002{RESET} Net.unused should be a buffer (persistent=False){YELLOW} (ambiguous: not rewritten){RESET}
  |
9 |         self.unused = torch.zeros(3)
  |         {RED}^^^^^^^^^^^{RESET} NR002
  |
  = help: register it: `self.register_buffer("unused", ..., persistent=False)`
  = note: never read outside __init__ in this class (its size aside): registering it changes nothing nnreg can see
'''


def test_coloured_golden(tmp_path: Path) -> None:
    assert _check(tmp_path, "--color").stdout.decode() == COLOURED


def test_the_option_wins_over_the_environment(tmp_path: Path) -> None:
    assert _check(tmp_path, "--color", env={"NO_COLOR": "1"}).stdout.decode() == COLOURED
    assert _check(tmp_path, "--no-color", env={"FORCE_COLOR": "1"}).stdout.decode() == GOLDEN


def test_verbose_gives_every_reason_as_a_note(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(SOURCE)
    result = nnreg("check", "--no-cache", "-v", "net.py", cwd=tmp_path)
    assert "  = note: deterministic constructor torch.ones\n" in result.stdout.decode()


def test_statistics_count_codes_and_statuses(tmp_path: Path) -> None:
    result = _check(tmp_path, "--statistics")
    assert result.stdout.decode() == (
        "1  NR002  [*] fixed       Tensor attribute should be a registered buffer\n"
        "1  NR002      ambiguous   Tensor attribute should be a registered buffer\n"
        "1  NR002      suppressed  Tensor attribute should be a registered buffer\n")


def test_output_file_takes_the_report(tmp_path: Path) -> None:
    result = _check(tmp_path, "--color", "--output-file", "report.txt")
    assert result.returncode == 1 and result.stdout == b""
    assert (tmp_path / "report.txt").read_text() == GOLDEN  # never coloured in a file


def test_force_exclude_applies_to_named_paths(tmp_path: Path) -> None:
    (tmp_path / "vendored").mkdir()
    (tmp_path / "vendored" / "net.py").write_text(SOURCE)
    named = nnreg("check", "--no-cache", "--exclude", "vendored/", "vendored/net.py", cwd=tmp_path)
    assert named.returncode == 1  # a path named explicitly is checked, as with black and ruff
    forced = nnreg("check", "--no-cache", "--exclude", "vendored/", "--force-exclude", "vendored/net.py", cwd=tmp_path)
    assert forced.returncode == 0 and forced.stdout == b""
