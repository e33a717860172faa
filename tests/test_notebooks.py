"""Notebooks: the fixture notebooks (written by nbformat's writer) fixed exactly, reported by cell,
diffed for review, probed by running their cells; and the pieces of ``codemod/notebooks.py``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from codemod.findings import Finding
from codemod.notebooks import CellError, parse_notebook, place, splice, write_back
from codemod.reasons import Reason
from conftest import check_json, files_of, nnreg, write_tree

NOTEBOOKS = Path(__file__).parent / "notebooks"
CASES = sorted(p.name for p in NOTEBOOKS.iterdir() if (p / "input").is_dir())


def _notebooks(tree: Path) -> list[Path]:
    return sorted(tree.rglob("*.ipynb"))


def _copy(case: str, side: str, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(NOTEBOOKS / case / side, work)
    return work


def test_the_cases_are_there() -> None:
    assert CASES == ["package_base", "research"]


@pytest.mark.parametrize("case", CASES)
def test_fixture_notebooks_are_valid(case: str) -> None:
    for path in _notebooks(NOTEBOOKS / case):
        nbformat.validate(nbformat.read(str(path), as_version=4))


@pytest.mark.parametrize("case", CASES)
def test_fix_gives_the_expected_notebooks(case: str, tmp_path: Path) -> None:
    work = _copy(case, "input", tmp_path)
    result = nnreg("fix", str(work))
    assert result.returncode == (1 if case == "research" else 0), result.stderr.decode()  # research: a bad cell
    assert files_of(work) == files_of(NOTEBOOKS / case / "expected")
    for path in _notebooks(work):
        nbformat.validate(nbformat.read(str(path), as_version=4))


@pytest.mark.parametrize("case", CASES)
def test_only_the_changed_cells_sources_differ(case: str) -> None:
    for before_path in _notebooks(NOTEBOOKS / case / "input"):
        after_path = NOTEBOOKS / case / "expected" / before_path.relative_to(NOTEBOOKS / case / "input")
        before, after = json.loads(before_path.read_text()), json.loads(after_path.read_text())
        changed = [i for i, (old, new) in enumerate(zip(before["cells"], after["cells"], strict=True))
                   if old["source"] != new["source"]]
        assert changed
        for i in changed:
            before["cells"][i]["source"] = after["cells"][i]["source"]
        assert before == after
        assert list(before["cells"][changed[0]]) == list(after["cells"][changed[0]])  # key order


@pytest.mark.parametrize("case", CASES)
def test_fixing_twice_changes_nothing(case: str, tmp_path: Path) -> None:
    work = _copy(case, "expected", tmp_path)
    before = files_of(work)
    nnreg("fix", str(work))
    assert files_of(work) == before
    assert [f["status"] for f in check_json(str(work))["findings"]] == []


def test_check_names_the_cell_and_reports_the_cell_that_does_not_parse(tmp_path: Path) -> None:
    work = _copy("research", "input", tmp_path)
    result = nnreg("check", "--no-color", ".", cwd=work)
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert [line for line in lines if line.startswith("research.ipynb")] == [
        "research.ipynb:cell 6: error: cannot parse (line 1): invalid syntax",
        "research.ipynb:cell 3:4:9: NR002 [*] Block.mask should be a buffer (persistent=False)",
        "research.ipynb:cell 4:6:9: NR002 [*] Net.pos should be a buffer (persistent=False)",
        "research.ipynb:cell 8:4:9: NR001 [*] Scaled.scale should be an nn.Parameter",
    ]
    assert "6 |         self.pos = torch.arange(4)" in lines
    assert result.stderr.decode().splitlines()[-1] == (
        "3 tensors would be registered in 1 file (2 buffers, 1 parameter); 1 error; 0 files unchanged; "
        "3 findings fixable with `nnreg fix`")


def test_json_sarif_and_github_carry_the_cell(tmp_path: Path) -> None:
    work = _copy("research", "input", tmp_path)
    report = check_json(".", cwd=work)
    assert [(f["path"], f["cell"], f["line"], f["column"], f["code"]) for f in report["findings"]] == [
        ("research.ipynb", 3, 4, 8, "NR002"), ("research.ipynb", 4, 6, 8, "NR002"), ("research.ipynb", 8, 4, 8, "NR001")]
    assert report["errors"] == [{"path": "research.ipynb", "cell": 6, "line": 1,
                                 "message": "cannot parse (line 1): invalid syntax"}]
    sarif = json.loads(nnreg("check", "--format", "sarif", ".", cwd=work).stdout)["runs"][0]
    first = sarif["results"][0]
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 4, "startColumn": 9}
    assert first["properties"]["cell"] == 3
    assert first["message"]["text"].startswith("cell 3, line 4: self.mask in Block")
    assert sarif["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"] == (
        "cell 6: cannot parse (line 1): invalid syntax")
    github = nnreg("check", "--format", "github", ".", cwd=work).stdout.decode().splitlines()
    assert github[0].startswith("::warning file=research.ipynb,line=4,col=9,title=NR002::cell 3, line 4: self.mask")
    assert github[-1] == "::error file=research.ipynb,title=nnreg::cell 6: cannot parse (line 1): invalid syntax"


def test_diff_shows_each_changed_cell_for_review(tmp_path: Path) -> None:
    work = _copy("research", "input", tmp_path)
    result = nnreg("diff", ".", cwd=work)
    assert result.returncode == 1
    assert result.stdout.decode() == (
        "# research.ipynb: notebook; the diff of its changed cells is for review (`nnreg fix` applies it, "
        "`git apply` cannot)\n"
        "--- a/research.ipynb:cell 3\n+++ b/research.ipynb:cell 3\n@@ -1,7 +1,9 @@\n"
        " class Block(nn.Module):\n     def __init__(self, size=4):\n         super().__init__()\n"
        "-        self.mask = torch.tril(torch.ones(size, size))  # causal\n"
        "+        self.register_buffer(\n"
        '+            "mask", torch.tril(torch.ones(size, size)), persistent=False\n'
        "+        )  # causal\n"
        " \n     def forward(self, x):\n         return x.masked_fill(self.mask == 0, 0.0)\n"
        "\\ No newline at end of file\n"
        "--- a/research.ipynb:cell 4\n+++ b/research.ipynb:cell 4\n@@ -3,7 +3,7 @@\n"
        "     def __init__(self):\n         super().__init__()\n"
        "         %config InlineBackend.figure_format = 'retina'\n"
        "-        self.pos = torch.arange(4)\n"
        '+        self.register_buffer("pos", torch.arange(4), persistent=False)\n'
        " \n     def forward(self, x):\n         return super().forward(x) + self.pos\n"
        "--- a/research.ipynb:cell 8\n+++ b/research.ipynb:cell 8\n@@ -1,7 +1,7 @@\n"
        " class Scaled(nn.Module):\n     def __init__(self):\n         super().__init__()\n"
        "-        self.scale = torch.randn(4, requires_grad=True)\n"
        "+        self.scale = nn.Parameter(torch.randn(4, requires_grad=True))\n"
        " \n     def forward(self, x):\n         return x * self.scale\n\\ No newline at end of file\n")
    assert files_of(work) == files_of(NOTEBOOKS / "research" / "input")


def test_extension_option_and_config_leave_notebooks_out(tmp_path: Path) -> None:
    work = _copy("research", "input", tmp_path)
    write_tree(work, {"net.py": "x = 1\n"})
    assert check_json(".", cwd=work)["summary"]["files"] == 2
    assert check_json("--extension", "py", ".", cwd=work)["summary"]["files"] == 1
    (work / "pyproject.toml").write_text('[tool.nnreg]\nextension = ["py"]\n')
    assert check_json(".", cwd=work)["summary"]["files"] == 1
    assert check_json("--extension", "py,ipynb", ".", cwd=work)["summary"]["files"] == 2
    bad = nnreg("check", "--extension", "txt", ".", cwd=work)
    assert bad.returncode == 2
    assert "extension takes py, ipynb, not txt" in bad.stderr.decode()


def test_a_notebook_is_never_imported_by_another_file(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell(
        "import torch\nfrom torch import nn\n\nclass Base(nn.Module):\n    pass", id="a")]), str(tree / "models.ipynb"))
    write_tree(tree, {"net.py": "import torch\nfrom models import Base\n\n\nclass Net(Base):\n    def __init__(self):\n"
                                "        super().__init__()\n        self.mask = torch.ones(3)\n\n"
                                "    def forward(self, x):\n        return x * self.mask\n"})
    assert check_json(".", cwd=tree)["findings"] == []


def _probe_notebook(folder: Path) -> Path:
    path = folder / "probe.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("!touch shell-ran\nimport torch\nfrom torch import nn\n\ndef make_table():\n"
                      "    return torch.ones(3)", id="a"),
        new_code_cell("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.table = make_table()\n\n    def forward(self, x):\n        return x * self.table", id="b"),
        new_code_cell("display(Net())", id="c"),
        new_code_cell("class Later(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.t = make_table()\n\n    def forward(self, x):\n        return x * self.t", id="d"),
    ]), str(path))
    return path


def test_confirm_runs_the_cells_in_order_without_magics(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _probe_notebook(tmp_path)
    report = check_json("--confirm", "--no-cache", "probe.ipynb", cwd=tmp_path)
    net, later = report["findings"]
    assert (net["class"], net["cell"], net["line"], net["status"]) == ("Net", 2, 4, "fixed")
    assert (net["runtime"]["source"], net["runtime"]["attribute"]["kind"]) == ("probe", "tensor")
    assert later["class"] == "Later" and later["status"] == "fixed"  # the static decision stands
    assert report["summary"]["probe"]["not_built_classes"] == [{
        "path": "probe.ipynb", "class": "Later", "why": "cells-stopped",
        "error": "the notebook's cells stopped: NameError: name 'display' is not defined"}]
    assert not (tmp_path / "shell-ran").exists()


# The pieces of codemod/notebooks.py.

MAGICS = ("%load_ext autoreload\n%autoreload 2\nfiles = !ls\n!pip install \\\n    einops\nimport torch\n"
          "torch.nn.Linear?\n??torch.ones\nfor name in files:\n    !echo $name\n")


def _notebook_bytes(*sources: str, markdown_first: bool = True) -> bytes:
    cells = [new_markdown_cell("notes", id="m")] if markdown_first else []
    cells += [new_code_cell(source, id=f"c{i}") for i, source in enumerate(sources)]
    return nbformat.writes(new_notebook(cells=cells)).encode() + b"\n"


def test_module_masks_magics_and_marks_cells() -> None:
    notebook = parse_notebook(_notebook_bytes(MAGICS, "%%bash\nls -l", "%%time\nx = 1", "def f(:\n  pass"))
    assert notebook.module == (
        "pass  # nnreg-magic 0\npass  # nnreg-magic 1\npass  # nnreg-magic 2\npass  # nnreg-magic 3\n"
        "pass  # nnreg-magic 4\nimport torch\npass  # nnreg-magic 5\npass  # nnreg-magic 6\n"
        "for name in files:\n    pass  # nnreg-magic 7\n"
        "# nnreg-cell 4\npass  # nnreg-magic 8\nx = 1\n")
    assert [(c.index, c.start) for c in notebook.cells] == [(2, 1), (4, 12)]
    assert notebook.errors == (CellError(5, 1, "cannot parse (line 1): invalid syntax"),)
    assert notebook.locate(13) == (4, 2)


def test_write_back_of_the_unchanged_module_gives_the_file_back() -> None:
    data = _notebook_bytes(MAGICS, "%%time\nx = 1\n", "y = 2")
    notebook = parse_notebook(data)
    assert write_back(notebook, notebook.module) == data


def test_write_back_changes_only_the_cell_that_changed() -> None:
    data = _notebook_bytes("!ls\nx = 1", "y = 2")
    notebook = parse_notebook(data)
    fixed = write_back(notebook, notebook.module.replace("x = 1", "x = 10"))
    expected = json.loads(data)
    expected["cells"][1]["source"] = "!ls\nx = 10"
    assert fixed == (nbformat.writes(nbformat.from_dict(expected)) + "\n").encode()


def test_splice_keeps_another_writers_layout() -> None:
    """A notebook written with two-space indentation, escaped non-ASCII and a source as one string."""
    document = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {},
                           "outputs": [], "source": "# caf\u00e9\nx = 1"},
                          {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {},
                           "outputs": [], "source": ["y = 1\n", "z = 2"]}],
              "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    data = json.dumps(document, indent=2).encode()
    fixed = splice(data, {0: "# caf\u00e9\nx = 2", 1: "y = 1\nz = 3"})
    document["cells"][0]["source"] = "# caf\u00e9\nx = 2"
    document["cells"][1]["source"] = ["y = 1\n", "z = 3"]
    assert fixed == json.dumps(document, indent=2).encode()


def test_place_maps_lines_and_the_lines_reasons_quote() -> None:
    notebook = parse_notebook(_notebook_bytes("import torch", "a = 1\nb = 2"))
    finding = Finding(path="nb.ipynb", line=4, column=8, class_name="Net", attribute="m", code="NR002",
                      action="buffer", persistent=False, confidence=0.9, status="fixed",
                      reasons=[Reason.of("E-RUNNING-STATE", "mutated in place in forward() (line 3)")],
                      held_back=["assigned at line 4"])
    placed = place(notebook, finding)
    assert (placed.cell, placed.line, placed.location) == (3, 2, "nb.ipynb:cell 3:2")
    assert placed.reasons == [Reason.of("E-RUNNING-STATE", "mutated in place in forward() (line 1 of cell 3)")]
    assert placed.held_back == ["assigned at line 2 of cell 3"]


def test_a_cell_that_awaits_at_top_level_is_fixed(tmp_path: Path) -> None:
    """IPython runs ``await`` at a cell's top level: the rewritten module is checked as such."""
    data = _notebook_bytes("import asyncio\nimport torch\nfrom torch import nn\nawait asyncio.sleep(0)",
                           "class N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                           "        self.m = torch.ones(2)\n\n    def forward(self, x):\n        return x * self.m")
    (tmp_path / "aw.ipynb").write_bytes(data)
    result = nnreg("fix", "aw.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads((tmp_path / "aw.ipynb").read_text())["cells"][2]["source"][3] == (
        '        self.register_buffer("m", torch.ones(2), persistent=False)\n')


def test_suppression_comments_are_placed_in_their_cell(tmp_path: Path) -> None:
    """Comments of a notebook are read, matched and reported by cell and line within it, like findings."""
    notebook = new_notebook(cells=[
        new_markdown_cell("# Suppressions"),
        new_code_cell("import torch\nfrom torch import nn"),
        new_code_cell("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.a = torch.ones(3)  # nnreg: ignore\n        self.n = 3  # noqa: NR002\n"
                      "        self.c = torch.ones(3)  # noqa: NR999\n\n    def forward(self, x):\n"
                      "        return x * self.a * self.c")])
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    text = nnreg("check", "--no-cache", "--no-color", "-q", "--warn-unused-suppressions", "nb.ipynb", cwd=tmp_path)
    assert text.stderr.decode() == ("nnreg: warning: nb.ipynb:cell 3:6: unknown code 'NR999' in `# noqa: NR999`: "
                                    "it suppresses nothing\n")
    assert text.stdout.decode().endswith("\n\nnb.ipynb:cell 3:5:21: unused suppression `# noqa: NR002`: no NR002 "
                                         "finding on this line to suppress\n")
    report = check_json("nb.ipynb", "--warn-unused-suppressions", "--show-suppressed", cwd=tmp_path)
    assert report["unused_suppressions"] == [{"path": "nb.ipynb", "line": 5, "column": 21, "cell": 3,
                                              "comment": "# noqa: NR002", "codes": ["NR002"]}]
    assert [(f["attribute"], f["cell"], f["line"], f["suppressed_by"], f["status"]) for f in report["findings"]] == [
        ("a", 3, 4, [4], "suppressed"), ("c", 3, 6, [], "fixed")]
