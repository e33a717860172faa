"""Stage 2 on spans: parsing only the top-level statements that hold candidate classes gives exactly
what parsing the whole file gives, on every fixture; the text edits and scans that replace whole-module
libcst work (``import torch``, quote, indent, line break) agree with libcst itself."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from typing import Any

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

from codemod import engine, source_analysis
from codemod.config import build_options, formatter_line_length, load_table
from codemod.discovery import discover, repository_root
from codemod.files import read_source
from codemod.index import summarise
from codemod.rewrite import torch_import
from codemod.spans import whole_file
from codemod.source_analysis import Layout
from codemod.style import file_style, string_quotes
from conftest import CASES, Case

NOTEBOOKS = Path(__file__).parent / "notebooks"
NOTEBOOK_INPUTS = sorted(p / "input" for p in NOTEBOOKS.iterdir() if (p / "input").is_dir())
FIXTURE_SOURCES = sorted(p for root in [c.input for c in CASES] for p in root.rglob("*.py"))

# Edge cases for the splice: a BOM, CRLF, tabs, form feeds, a latin-1 cookie, classes nested in an
# ``if``, a ``try`` and a function, a decorated class, a class defined twice, and a missing import.
EDGE_CASES = {
    "bom_crlf_tabs.py": "\ufeff# header\r\n\"a\" \"b\"\r\nfrom torch.nn import Module\r\nfrom torch import randn\r\n\r\n"
                        "def helper():\r\n\treturn 1\r\n\x0c\r\nclass Net(Module):\r\n\tdef __init__(self):\r\n"
                        "\t\tsuper().__init__()\r\n\t\tself.weight = randn(3)  # trainable\r\n\r\n"
                        "\tdef forward(self, x):\r\n\t\treturn x * self.weight\r\n",
    "nested.py": "# -*- coding: latin-1 -*-\n\"\"\"Caf\xe9.\"\"\"\nimport torch\nfrom torch import nn\n\n"
                 "VALUE = 'x', 'y'  # outside every span, these decide the quote\n\n\n"
                 "def decorate(cls):\n    return cls\n\n\nif True:\n    class InIf(nn.Module):\n"
                 "        def __init__(self):\n            super().__init__()\n            self.mask = torch.ones(3)\n\n"
                 "        def forward(self, x):\n            return x * self.mask\n\n\ntry:\n    pass\nexcept ImportError:\n"
                 "    class InTry(nn.Module):\n        def __init__(self):\n            super().__init__()\n"
                 "            self.table = torch.zeros(4)\n\n        def forward(self, x):\n"
                 "            return x + self.table\n\n\ndef build():\n    class Local(nn.Module):\n"
                 "        def __init__(self):\n            super().__init__()\n            self.scale = torch.ones(1)\n\n"
                 "        def forward(self, x):\n            return x * self.scale\n    return Local()\n\n\n@decorate\n"
                 "class Twice(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.first = torch.ones(2)\n\n    def forward(self, x):\n        return x * self.first\n\n\n"
                 "class Twice(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.second = torch.ones(2)\n\n    def forward(self, x):\n        return x * self.second\n",
}
ENCODINGS = {"nested.py": "latin-1"}


def _results(paths: list[Path], config: Path | None = None) -> list[tuple[Any, ...]]:
    """Everything stage 2 gives for each file of a run: findings with all their fields, fixed bytes,
    error, probe outcome."""
    start = paths[0]
    table, _ = load_table(config, start)
    options = build_options(table, {}, formatter_line_length(start))
    root = repository_root(start)
    files = list(discover(paths, root, options.exclude, options.force_exclude, options.extension))
    return [(r.display, [f.to_json() for f in r.findings], r.fixed, r.error, r.probed)
            for r in engine.run(files, root, options)]


def _both_ways(paths: list[Path], config: Path | None, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    by_class = _results(paths, config)
    monkeypatch.setattr(source_analysis, "class_spans", lambda summary, index, layout, options, typed_at_runtime: [whole_file(layout.starts)])
    assert _results(paths, config) == by_class
    monkeypatch.undo()
    return by_class


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_class_spans_give_what_the_whole_file_gives(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    config = case.root / "nnreg.toml"
    _both_ways([case.input], config if config.exists() else None, monkeypatch)


@pytest.mark.parametrize("notebooks", NOTEBOOK_INPUTS, ids=lambda p: p.parent.name)
def test_class_spans_give_what_the_whole_file_gives_in_notebooks(notebooks: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    results = _both_ways([notebooks], None, monkeypatch)
    assert any(fixed for _, _, fixed, _, _ in results)


def _write_edge_cases(tmp_path: Path) -> Path:
    for name, text in EDGE_CASES.items():
        (tmp_path / name).write_bytes(text.encode(ENCODINGS.get(name, "utf-8")))
    return tmp_path


def test_edge_cases_agree_and_are_fixed_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = {display.rsplit("/", 1)[-1]: (findings, fixed) for display, findings, fixed, _, _
               in _both_ways([_write_edge_cases(tmp_path)], None, monkeypatch)}
    findings, fixed = results["nested.py"]
    assert [(f["line"], f["class"], f["attribute"]) for f in findings] == [
        (17, "InIf", "mask"), (29, "InTry", "table"), (39, "build.<locals>.Local", "scale"),
        (50, "Twice", "first"), (59, "Twice", "second")]
    expected = EDGE_CASES["nested.py"]
    for attribute, value in [("mask", "ones(3)"), ("table", "zeros(4)"), ("scale", "ones(1)"),
                             ("first", "ones(2)"), ("second", "ones(2)")]:
        expected = expected.replace(f"self.{attribute} = torch.{value}",
                                    f"self.register_buffer('{attribute}', torch.{value}, persistent=False)")
    assert fixed == expected.encode("latin-1")
    findings, fixed = results["bom_crlf_tabs.py"]
    assert [(f["line"], f["column"], f["attribute"], f["action"]) for f in findings] == [(12, 2, "weight", "parameter")]
    original = EDGE_CASES["bom_crlf_tabs.py"]
    expected = original.replace("# header\r\n", "# header\r\nimport torch\r\n\r\n").replace(
        "self.weight = randn(3)", "self.weight = torch.nn.Parameter(randn(3))")
    assert fixed == expected.encode("utf-8")


def test_libcst_parses_only_the_statements_that_hold_candidate_classes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = cst.parse_module
    monkeypatch.setattr(cst, "parse_module", lambda source, *args: parsed.append(source) or parse(source, *args))
    _results([_write_edge_cases(tmp_path) / "nested.py"])
    assert [text.splitlines()[0] for text in parsed] == [
        "if True:", "try:", "def build():", "@decorate", "class Twice(nn.Module):"]
    assert "VALUE" not in "".join(parsed)


def _libcst_import(data: bytes) -> bytes:
    module = cst.parse_module(data)
    context = CodemodContext()
    AddImportsVisitor.add_needed_import(context, "torch")
    return AddImportsVisitor(context).transform_module(module).bytes


IMPORT_CASES = [
    b"#!/usr/bin/env python\n# c\n\nclass A: pass\n", b"# c\n\n# d\n@f\nclass A: pass\n", b"class A: pass\n",
    b'"""doc"""\n# c\nclass A: pass\n', b'"""doc"""\n\nimport os\nfrom x import (\n    y)  # t\n   \nclass A: pass\n',
    b'"""doc"""\nimport os; import sys\nclass A: pass\n', b"import torch as torch\nclass A: pass\n",
    b"import os, torch\nclass A: pass\n", b'"a" "b"\nimport os\nclass A: pass\n', b'("doc")\nclass A: pass\n',
    b"import os\r\n\nclass A: pass\r\n", b"__strict__ = True\nimport os\n\n\nclass A: pass\n",
    b"\xef\xbb\xbf# c\nimport os\n# d\nclass A: pass\n", b"\xef\xbb\xbf\"\"\"doc\"\"\"\nclass A: pass\n",
    b'"""doc"""; x = 1\nclass A: pass\n', b"from __future__ import annotations\nimport torch.nn\nx = 1\n",
]


@pytest.mark.parametrize("data", [*IMPORT_CASES, *(p for p in FIXTURE_SOURCES if p.read_bytes().strip())], ids=str)
def test_the_import_goes_where_libcst_puts_it(data: bytes | Path, tmp_path: Path) -> None:
    """Every module that has a statement (a class to rewrite needs one)."""
    path = data if isinstance(data, Path) else tmp_path / "module.py"
    if isinstance(data, bytes):
        path.write_bytes(data)
    source = read_source(path)
    layout = Layout.of(source)
    block = summarise(path, ast.parse(source.data)).imports.block
    added = torch_import(source.data, layout.starts, block, file_style(source.text), layout.codec)
    inserted = source.data if added is None else source.data[:added[0]] + added[1] + source.data[added[0]:]
    assert inserted == _libcst_import(source.data)


STYLE_CASES = [
    "x = f'{d[\"k\"]}' 'a'\n", "if a or'x': pass\n# it's\ny = \"it's\"\n", "z = '''a ' '' b''' + r'\\''\n",
    "w = rb'x' + Br\"y\" + f\"{{'no'}}\" + F'{x!r:>{w}}'\nif x: y\nelse:\n\tz\n", "s = 'a\\\r\nb'\r\n",
]


@pytest.mark.parametrize("text", [*STYLE_CASES, *FIXTURE_SOURCES], ids=str)
def test_the_style_scan_agrees_with_libcst(text: str | Path) -> None:
    text = read_source(text).text if isinstance(text, Path) else text
    module = cst.parse_module(text)
    counts: Counter[str] = Counter()

    class Quotes(cst.CSTVisitor):
        def visit_SimpleString(self, node: cst.SimpleString) -> None:
            counts[node.quote[0]] += 1

    module.visit(Quotes())
    assert Counter(string_quotes(text)) == counts
    style = file_style(text)
    assert style.quote == ("'" if counts["'"] > counts['"'] else '"')
    assert (style.indent, style.newline) == (module.default_indent, module.default_newline)


# A backslash at the end of a statement's last line joins the next line, which ``ast`` leaves out of
# the statement when it is empty; a comment that ends in a backslash joins nothing.
BACKSLASH_CASES = {
    "import_joins_a_blank_line.py": (
        "from torch.nn import Module\nfrom torch import randn \\\n\nclass Net(Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.weight = randn(3)\n\n    def forward(self, x):\n"
        "        return x * self.weight\n",
        [("from torch import randn \\\n\n", "from torch import randn \\\n\nimport torch\n\n"),
         ("self.weight = randn(3)", "self.weight = torch.nn.Parameter(randn(3))")]),
    "class_joins_a_blank_line.py": (
        "import torch\nfrom torch import nn\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.mask = torch.ones(3)\n    def forward(self, x):\n        return x * self.mask \\\n\nY = 1\n",
        [("self.mask = torch.ones(3)", 'self.register_buffer("mask", torch.ones(3), persistent=False)')]),
    "comment_ends_in_a_backslash.py": (
        "import torch\nfrom torch import nn\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.mask = torch.ones(3)\n    def forward(self, x):\n        return x * self.mask  # C:\\\nY = 1\n",
        [("self.mask = torch.ones(3)", 'self.register_buffer("mask", torch.ones(3), persistent=False)')]),
}


@pytest.mark.parametrize("name", BACKSLASH_CASES)
def test_a_trailing_backslash_keeps_the_statement_whole(name: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text, replacements = BACKSLASH_CASES[name]
    (tmp_path / name).write_text(text)
    [(_, findings, fixed, error, _)] = _both_ways([tmp_path / name], None, monkeypatch)
    expected = text
    for old, new in replacements:
        expected = expected.replace(old, new)
    assert error is None and len(findings) == 1
    assert fixed == expected.encode()
    ast.parse(fixed)
