"""The rest of issue 12's command line: --show-files, colour precedence, suppression comments, progress,
line length, wrapping to the terminal, and the README's options each exercised by a test."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from conftest import NNREG, init_repo, nnreg, on_a_terminal, write_tree

NET = ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
       "        super().__init__()\n        self.mask = torch.ones(3)\n\n    def forward(self, x):\n"
       "        return x * self.mask\n")


def test_show_files_lists_what_would_be_checked_and_exits_0(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write_tree(repo, {"pyproject.toml": '[tool.nnreg]\nexclude = ["vendored/"]\n', ".gitignore": "generated/\n",
                      "src/pkg/net.py": NET, "src/pkg/sub/util.py": "x = 1\n", "src/pkg/notes.txt": "no\n",
                      "vendored/lib.py": NET, "generated/out.py": NET})
    listed = nnreg("check", "--show-files", "../..", cwd=repo / "src" / "pkg")
    assert listed.returncode == 0, listed.stderr.decode()
    assert listed.stdout.decode() == "src/pkg/net.py\nsrc/pkg/sub/util.py\n"
    assert listed.stderr == b"" and not (repo / ".nnreg_cache").exists()  # nothing ran, nothing cached
    named = nnreg("check", "--show-files", "vendored/lib.py", "src/pkg/net.py", cwd=repo)
    assert named.stdout.decode() == "vendored/lib.py\nsrc/pkg/net.py\n"  # named paths are checked
    forced = nnreg("check", "--show-files", "--force-exclude", "vendored/lib.py", "src/pkg/net.py", cwd=repo)
    assert forced.returncode == 0 and forced.stdout.decode() == "src/pkg/net.py\n"


SUPPRESSED = '''import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.ones(3)  # NOQA: nr002
        self.b = torch.ones(3)  # nnreg: ignore[nr002]
        self.c = torch.ones(3)  # noqa: NR999
        self.d = torch.ones(3)  # noqa: E501, NR001
        self.n = 3  # nnreg: ignore

    def forward(self, x):
        return x * self.a * self.b * self.c * self.d  # noqa: E501
'''


def test_suppression_codes_in_any_case_and_unknown_codes_warned(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(SUPPRESSED)
    result = nnreg("check", "--no-cache", "--no-color", "-q", "net.py", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("net.py:")]
    assert lines == ["net.py:10:9: NR002 [*] Net.c should be a buffer (persistent=False)",
                     "net.py:11:9: NR002 [*] Net.d should be a buffer (persistent=False)"]
    assert result.stderr.decode() == "nnreg: warning: net.py:10: unknown code 'NR999' in `# noqa: NR999`: it suppresses nothing\n"


def test_suppression_lines_count_as_python_does_past_a_form_feed(tmp_path: Path) -> None:
    """A form feed (or \\x1c, \\u2028...) in a docstring is no line break to Python or libcst: the comment
    still suppresses its own line, not the next one."""
    (tmp_path / "net.py").write_text(SUPPRESSED.replace("class Net(nn.Module):\n",
                                                        'class Net(nn.Module):\n    """a\fb\u2028c"""\n\n'))
    result = nnreg("check", "--no-cache", "--no-color", "-q", "net.py", cwd=tmp_path)
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("net.py:")]
    assert lines == ["net.py:12:9: NR002 [*] Net.c should be a buffer (persistent=False)",
                     "net.py:13:9: NR002 [*] Net.d should be a buffer (persistent=False)"]


def test_warn_unused_suppressions(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(SUPPRESSED)
    result = nnreg("check", "--no-cache", "--no-color", "-q", "--warn-unused-suppressions", "net.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().endswith(
        "\n\nnet.py:11:33: unused suppression `# noqa: E501, NR001`: no NR001 finding on this line to suppress"
        "\n\nnet.py:12:21: unused suppression `# nnreg: ignore`: no finding on this line to suppress\n")
    only_nr002 = nnreg("check", "--no-cache", "--select", "NR002", "--format", "json", "--warn-unused-suppressions",
                       "net.py", cwd=tmp_path)
    assert json.loads(only_nr002.stdout)["unused_suppressions"] == []  # nnreg did not look for NR001: no verdict
    assert only_nr002.returncode == 1  # the findings on lines 10 and 11
    every = json.loads(nnreg("check", "--no-cache", "--format", "json", "--warn-unused-suppressions", "net.py",
                             cwd=tmp_path).stdout)
    assert every["unused_suppressions"] == [
        {"path": "net.py", "line": 11, "column": 33, "cell": None, "comment": "# noqa: E501, NR001", "codes": ["NR001"]},
        {"path": "net.py", "line": 12, "column": 21, "cell": None, "comment": "# nnreg: ignore", "codes": []}]
    (tmp_path / "net.py").write_text(SUPPRESSED.replace("  # noqa: NR999", "  # noqa: NR002")
                                     .replace("  # noqa: E501, NR001", "  # noqa: NR002").replace("3  # nnreg: ignore", "3"))
    clean = nnreg("check", "--no-cache", "--warn-unused-suppressions", "net.py", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout == b"", clean.stdout.decode()


def test_a_comment_that_suppresses_a_container_finding_is_used(tmp_path: Path) -> None:
    """NR101/NR102 findings record the comments that suppress them, as NR001/NR002 findings do."""
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]  # nnreg: ignore[NR101]\n\n"
        "    def forward(self, x):\n        for layer in self.layers:\n            x = layer(x)\n        return x\n")
    result = nnreg("check", "--no-cache", "--format", "json", "--warn-unused-suppressions", "net.py", cwd=tmp_path)
    report = json.loads(result.stdout)
    assert [f["status"] for f in report["findings"]] == ["suppressed"]
    assert report["findings"][0]["suppressed_by"] == [7]
    assert report["unused_suppressions"] == []


LONG = NET.replace("self.mask = torch.ones(3)", "self.mask = torch.ones(3)  # forty more characters of comment here")
WRAPPED = NET.replace("self.mask = torch.ones(3)", 'self.register_buffer(\n            "mask", torch.ones(3), persistent=False\n'
                      "        )  # forty more characters of comment here")
ONE_LINE = NET.replace("self.mask = torch.ones(3)", 'self.register_buffer("mask", torch.ones(3), persistent=False)'
                       "  # forty more characters of comment here")


def test_line_length_comes_from_nnreg_then_ruff_then_black(tmp_path: Path) -> None:
    """The fixed line is 113 characters: it stays whole only where the project allows that many."""
    for tables, expected in [("", WRAPPED), ("[tool.black]\nline-length = 120\n", ONE_LINE),
                             ("[tool.ruff]\nline-length = 100\n[tool.black]\nline-length = 120\n", WRAPPED),
                             ("[tool.ruff]\nline-length = 120\n[tool.black]\nline-length = 100\n", ONE_LINE),
                             ("[tool.nnreg]\nline-length = 100\n[tool.ruff]\nline-length = 120\n", WRAPPED)]:
        (tmp_path / "pyproject.toml").write_text(tables)
        (tmp_path / "net.py").write_text(LONG)
        result = nnreg("fix", "--no-cache", "net.py", cwd=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert (tmp_path / "net.py").read_text() == expected, tables


def test_line_length_is_checked(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.nnreg]\nline-length = "long"\n')
    (tmp_path / "net.py").write_text(NET)
    result = nnreg("check", "net.py", cwd=tmp_path)
    assert result.returncode == 2 and b"line-length must be a whole number of at least 1, not 'long'" in result.stderr


AMBIGUOUS = NET.replace("        self.mask = torch.ones(3)\n",
                        "        self.mask = torch.ones(3)\n        self.unused_constant = torch.zeros(3)\n")
FOLDED = '''net.py:9:9: NR002 Net.unused_constant should be
    a buffer (persistent=False) (ambiguous: not
    rewritten)
  |
9 |         self.unused_constant = torch.zeros(3)
  |         ^^^^^^^^^^^^^^^^^^^^ NR002
  |
  = help: register it:
      `self.register_buffer("unused_constant",
      ..., persistent=False)`
  = note: never read outside __init__ in this
      class (its size aside): registering it
      changes nothing nnreg can see
'''


def test_messages_fold_to_the_terminal_width_only_on_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(AMBIGUOUS)
    args = ["check", "--no-cache", "--no-color", "--select", "NR002", "net.py"]
    shown = on_a_terminal(args, tmp_path, {"COLUMNS": "48"}).decode().replace("\r\n", "\n")
    assert shown.endswith(FOLDED), shown
    piped = subprocess.run([NNREG, *args], cwd=tmp_path, capture_output=True, env={**os.environ, "COLUMNS": "48"})
    assert "net.py:9:9: NR002 Net.unused_constant should be a buffer (persistent=False) (ambiguous: not rewritten)\n" \
        in piped.stdout.decode()
    assert "  = help: register it: `self.register_buffer(\"unused_constant\", ..., persistent=False)`\n" \
        in piped.stdout.decode()


TRAINED = NET.replace("        self.mask = torch.ones(3)\n", "        self.mask = torch.ones(3)\n        self.w = torch.randn(3)\n"
                      "        nn.init.normal_(self.w)\n").replace("x * self.mask", "x * self.mask @ self.w")


def test_long_and_short_spellings_and_the_options_that_narrow_rewrites(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(TRAINED)

    def statuses(*args: str) -> dict[str, str]:
        report = json.loads(nnreg("check", "--no-cache", "--format", "json", *args, "net.py", cwd=tmp_path).stdout)
        return {f["attribute"]: f["status"] for f in report["findings"]}

    assert statuses() == {"mask": "fixed", "w": "fixed"}
    assert statuses("--keep-state-dict") == {"mask": "fixed", "w": "unsafe"}  # a Parameter adds a state_dict key
    assert statuses("--min-confidence", "1") == {"mask": "ambiguous", "w": "ambiguous"}
    assert nnreg("check", "--no-cache", "--jobs", "2", "net.py", cwd=tmp_path).stdout == \
        nnreg("check", "--no-cache", "-j", "1", "net.py", cwd=tmp_path).stdout
    quiet = nnreg("check", "--no-cache", "--quiet", "--verbose", "-o", "report.txt", "net.py", cwd=tmp_path)
    assert quiet.returncode == 1 and quiet.stdout == b"" and quiet.stderr == b""
    assert "  = note: deterministic constructor torch.ones\n" in (tmp_path / "report.txt").read_text()
    env = {**os.environ, "NNREG_CONFIRM": "1"}  # --no-confirm wins over the environment: nothing runs
    refused = subprocess.run([NNREG, "check", "--no-cache", "--no-confirm", "--format", "json", "net.py"],
                             cwd=tmp_path, capture_output=True, env=env, timeout=120)
    assert refused.returncode == 1 and "probe" not in json.loads(refused.stdout)["summary"]


README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_options() -> list[str]:
    """Every option named in the first column of the README's options table."""
    section = README.read_text().split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    return sorted({name for cell in cells for name in re.findall(r"(?<![\w-])(--?[a-z][a-z0-9-]*)", cell)})


def test_every_option_the_readme_lists_is_exercised_by_a_test() -> None:
    """A test passes each option to nnreg as a quoted argument ("--show-files"); this file's own
    mentions do not count, except in the tests above this one."""
    options = _readme_options()
    assert "--show-files" in options and "-j" in options and "--no-color" in options and len(options) > 30
    others = "".join(p.read_text() for p in Path(__file__).parent.glob("*.py") if p.name != Path(__file__).name)
    mine = Path(__file__).read_text().split("\nREADME = ", 1)[0]
    untested = [o for o in options if f'"{o}"' not in others + mine]
    assert untested == []
