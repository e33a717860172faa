"""The rest of issue 12's command line: --show-files, colour precedence, suppression comments, progress,
line length, wrapping to the terminal, and the README's options each exercised by a test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import NNREG, init_repo, nnreg, write_tree

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
