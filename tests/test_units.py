"""Each stage on its own: import table, class index, expression classification, suppression, config."""

from __future__ import annotations

import ast
from pathlib import Path

import libcst as cst
import pytest

import codemod
from codemod.analysis import suppressions_on
from codemod.astnodes import function_nodes, own_nodes, walk
from codemod.config import ConfigError, build_options
from codemod.imports import ImportTable, build_import_table
from codemod.index import ClassIndex, summarise
from codemod.tensors import Scope, classify


def _table(source: str, module: str = "pkg.net", package_init: bool = False) -> ImportTable:
    return build_import_table(ast.parse(source), module, package_init)


@pytest.mark.parametrize(("source", "written", "qualified"), [
    ("import torch", "torch.nn.Module", "torch.nn.Module"),
    ("import torch.nn as nn", "nn.Linear", "torch.nn.Linear"),
    ("import torch.nn", "torch.nn.Module", "torch.nn.Module"),
    ("from torch import nn", "nn.Module", "torch.nn.Module"),
    ("from torch.nn import Module as M", "M", "torch.nn.Module"),
    ("from .base import Base", "Base", "pkg.base.Base"),
    ("from ..core import layers", "layers.Conv", "core.layers.Conv"),
    ("import numpy as torch", "torch.zeros", "numpy.zeros"),
    ("", "nn.Module", None),
])
def test_import_table_resolves_through_real_imports(source: str, written: str, qualified: str | None) -> None:
    module = "pkg.sub.net" if ".." in source else "pkg.net"
    expected = qualified if ".." not in source else "pkg.core.layers.Conv"
    assert _table(source, module).resolve(written) == expected


def test_relative_import_from_package_init() -> None:
    assert _table("from .base import Base", "pkg", package_init=True).resolve("Base") == "pkg.base.Base"


def test_spelling_prefers_the_files_own_names() -> None:
    assert _table("import torch\nfrom torch import nn").spelling_for("torch.nn.Parameter") == "nn.Parameter"
    assert _table("import torch").spelling_for("torch.nn.Parameter") == "torch.nn.Parameter"
    assert _table("from torch.nn import Parameter").spelling_for("torch.nn.Parameter") == "Parameter"
    assert _table("from torch.nn import Module").spelling_for("torch.nn.Parameter") is None


def _tree(tmp_path: Path, files: dict[str, str]) -> ClassIndex:
    index = ClassIndex(("mylib.Base",))
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in files:
        path = tmp_path / name
        if name.endswith("net.py"):
            index.add(summarise(path, ast.parse(path.read_text())))
    return index


def test_index_follows_chains_across_files_lazily(tmp_path: Path) -> None:
    index = _tree(tmp_path, {
        "pkg/__init__.py": "from .mid import Mid\n",
        "pkg/base.py": "from torch import nn\nclass Base(nn.Module):\n    pass\n",
        "pkg/mid.py": "from .base import Base\nclass Mid(Base):\n    pass\n",
        "pkg/net.py": "from pkg import Mid\nimport mylib\nclass Net(Mid):\n    pass\nclass Other:\n    pass\n"
                      "class Cfg(mylib.Base):\n    pass\nclass A(B):\n    pass\nclass B(A):\n    pass\n",
    })
    classes = index.lookup("pkg.net.Net"), index.lookup("pkg.net.Other"), index.lookup("pkg.net.Cfg")
    assert [index.is_module_class(c) for c in classes] == [True, False, True]
    assert not index.is_module_class(index.lookup("pkg.net.A"))  # cycles terminate
    assert [c.qualname for c in index.ancestors(classes[0])] == ["Mid", "Base"]


def test_index_records_registrations_and_members(tmp_path: Path) -> None:
    index = _tree(tmp_path, {"net.py": """
import torch
from torch import nn
class Net(nn.Module):
    table = None
    def __init__(self):
        super().__init__()
        self.register_buffer("mask", torch.ones(2))
        self.w = nn.Parameter(torch.ones(2))
        self.register_parameter("b", None)
        self.add_state("total", default=torch.tensor(0))
    @property
    def view(self):
        return 1
"""})
    net = index.lookup("net.Net")
    assert net.parameters == {"w", "b"}
    assert net.buffers == {"mask", "total"}
    assert {"table", "view", "__init__"} <= net.members


def _classify(expression: str, **locals_: str):
    scope = Scope(imports=_table("import torch\nimport numpy as np\nfrom torch import nn"), self_name="self",
                  tensor_args=frozenset({"t"}))
    for name, value in locals_.items():
        scope.locals[name] = classify(cst.parse_expression(value), scope)
    return classify(cst.parse_expression(expression), scope)


@pytest.mark.parametrize(("expression", "kind", "dtype", "init"), [
    ("torch.randn(3)", "tensor", "float", "random"),
    ("torch.randint(0, 3, (2,))", "tensor", "int", "random"),
    ("torch.arange(4)", "tensor", "int", "deterministic"),
    ("torch.arange(4).float() / 4", "tensor", "float", "deterministic"),
    ("torch.tril(torch.ones(2, 2)).bool()", "tensor", "bool", "fill"),
    ("torch.ones(2) > 0", "tensor", "bool", "fill"),
    ("torch.tensor([1.0, 2])", "tensor", "float", "deterministic"),
    ("torch.tensor([True, False])", "tensor", "bool", "deterministic"),
    ("torch.full((2,), 7)", "tensor", "int", "fill"),
    ("torch.zeros(2, dtype=torch.float64)", "tensor", "float64", "fill"),
    ("torch.FloatTensor(3, 4)", "tensor", "float", "empty"),
    ("torch.LongTensor([1, 2])", "tensor", "int", "deterministic"),
    ("torch.nn.functional.pad(torch.ones(2), (1, 1))", "tensor", "float", "fill"),
    ("t * 2", "tensor", None, None),
    ("t.detach()", "tensor", None, None),
    ("pe", "tensor", "float", "fill"),
    ("np.zeros(3)", "other", None, None),
    ("torch.device('cpu')", "other", None, None),
    ("torch.float32", "other", None, None),
    ("torch.ones(2).numel()", "other", None, None),
    ("nn.Linear(2, 2)", "module", None, None),
    ("nn.Parameter(torch.ones(2))", "registered", None, None),
    ("helper(3)", "possible", None, None),
    ("x", "possible", None, None),
    ("torch.ones(2).max()", "tensor", "float", "fill"),  # a full reduction: one 0-d tensor
    ("torch.ones(2, 2).max(1)", "possible", None, None),  # values and indices, or a tensor: not typed
    ("torch.max(torch.ones(2, 2), dim=1)", "possible", None, None),
    ("torch.meshgrid(torch.arange(2), torch.arange(2))", "other", None, None),
    ("torch.linalg.eigh(torch.eye(2))", "other", None, None),
    ("torch.ones(4).chunk(2)", "other", None, None),
    ("None", "none", None, None),
    ("[torch.ones(2)]", "other", None, None),
])
def test_classification(expression: str, kind: str, dtype: str | None, init: str | None) -> None:
    info = _classify(expression, pe="torch.zeros(4)")
    assert (info.kind, info.dtype, info.init) == (kind, dtype, init)


def test_classification_flags() -> None:
    assert _classify("torch.ones(2).max()").rank0 == "yes"
    assert _classify("nn.Parameter(torch.ones(2)).to(torch.float64)").lost_parameter == ".to()"
    assert _classify("nn.Parameter(torch.ones(2)).requires_grad_(False)").kind == "registered"
    assert _classify("torch.nn.init.normal_(torch.empty(2))").nn_init
    assert _classify("torch.zeros(2, requires_grad=True)").requires_grad is True
    assert _classify("torch.arange(3, device='cpu')").on_cpu
    assert _classify("torch.arange(3).cpu()").on_cpu
    assert _classify("torch.zeros(2) if c else None").is_tensor
    assert _classify("t.view(2, 2)").alias_of == "argument t"
    assert _classify("t.float()").alias_of is None


def test_suppression_comments() -> None:
    lines = ["a = 1  # nnreg: ignore", "b = 1  # noqa: NR001, NR002", "c = 1  # nnreg: ignore[NR002]",
             "d = 1  # noqa", "e = 1  # a comment", "f = 1  # NOQA: nr002", "g = 1  # nnreg: IGNORE[nr001]",
             "h = 1  # noqa: nr999", "i = 1  # nnreg: ignore[NR9, NR002]", "j = (1,", "     2)  # noqa:E501,NR001",
             "k = 1  # noqa: BLE001 - why", "l = 1  # noqa: -"]

    def codes(first: int, last: int | None = None) -> list[frozenset[str] | None]:
        return [s.codes for s in suppressions_on(lines, first, last or first)]

    assert codes(1) == [None] and codes(4) == [None]  # every code
    assert codes(2) == [{"NR001", "NR002"}] and codes(3) == [{"NR002"}] and codes(5) == []
    assert codes(6) == [{"NR002"}] and codes(7) == [{"NR001"}]  # any case
    assert codes(8) == [frozenset()] and codes(9) == [{"NR002"}]  # an unknown code silences nothing
    assert codes(10, 11) == [{"NR001"}] and codes(12) == [frozenset()] and codes(13) == [frozenset()]
    assert [s.warnings for s in suppressions_on(lines, 8, 9)] == [
        ("unknown code 'NR999' in `# noqa: nr999`: it suppresses nothing",),
        ("unknown code 'NR9' in `# nnreg: ignore[NR9, NR002]`: it suppresses nothing",)]
    assert [s.warnings for s in suppressions_on(lines, 12, 13)] == [
        (), ("`# noqa: -` names no code nnreg can read: it suppresses nothing",)]


def test_config_merges_and_validates() -> None:
    options = build_options({"buffer-style": "nn.Buffer", "select": "NR002", "module-bases": ["a.B"]},
                            {"ambiguous": "buffer", "select": ()})
    assert (options.buffer_style, options.select, options.ambiguous, options.module_bases) == (
        "nn.Buffer", ("NR002",), "buffer", ("a.B",))
    assert options.selects("NR002") and not options.selects("NR001")
    with pytest.raises(ConfigError, match="unknown key"):
        build_options({"colour": True}, {})
    with pytest.raises(ConfigError, match="persistent must be one of"):
        build_options({"persistent": "sometimes"}, {})
    with pytest.raises(ConfigError, match="min-confidence"):
        build_options({"min-confidence": 3}, {})


_MARKERS = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


@pytest.mark.parametrize("path", sorted(Path(codemod.__file__).parent.glob("*.py")),
                         ids=lambda p: p.name)
def test_fast_walk_visits_what_ast_walk_visits_but_markers(path: Path) -> None:
    tree = ast.parse(path.read_bytes())
    assert walk(tree) == [node for node in ast.walk(tree) if not isinstance(node, _MARKERS)]
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        everything, own = function_nodes(function)
        assert sorted(map(id, everything)) == sorted(map(id, walk(function)))
        assert own == own_nodes(function)


def test_own_nodes_stop_at_nested_scopes_but_not_comprehensions() -> None:
    function = ast.parse(
        "def f(x):\n"
        "    def inner(y):\n        return y + 1\n"
        "    class Local:\n        z = 2\n"
        "    g = lambda w: w * 3\n"
        "    return [v for v in x]\n").body[0]
    assert isinstance(function, ast.FunctionDef)
    names = {node.id for node in own_nodes(function) if isinstance(node, ast.Name)}
    assert names == {"g", "v", "x"}  # not y, z or w: they live in nested scopes
    kinds = {type(node) for node in own_nodes(function)}
    assert {ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp} <= kinds
    everything, _ = function_nodes(function)
    assert {"y", "w"} <= {node.id for node in everything if isinstance(node, ast.Name)}


def test_stage_one_sends_only_containers_that_may_hold_modules_or_tensors() -> None:
    """The cheap predicate of NR101/NR102: containers of calls of classes or torch, and locals bound to
    them, go to stage 2; shapes, records and names only with runtime evidence; a tree function's
    container waits for the class index (here it builds a module class, so the class goes)."""
    source = '''
import torch
from torch import nn


def make(d):
    return nn.Linear(d, d)


def pair(d):
    return (d, d)


class Net(nn.Module):
    def __init__(self, d, names):
        super().__init__()
        self.layers = [nn.Linear(d, d) for _ in range(2)]
        self.filled = []
        layer = nn.Tanh()
        self.filled.append(layer)
        self.masks = (torch.ones(d), torch.zeros(d))
        self.info = [dict(num_chs=d, module="stem")]
        self.shape = (d, 2 * d)
        self.names = list(names)
        self.made = [make(d), make(d)]
        self.sizes = [pair(d)]
'''
    summary = summarise(Path("/tmp/pkg/net.py"), ast.parse(source))
    containers = summary.classes["Net"].containers
    assert {name for name, sources in containers.items() if not sources} == {"layers", "filled", "masks"}
    assert containers["info"] == containers["shape"] == containers["names"] == ("<runtime>",)
    assert containers["made"] == ("<runtime>", "net.make") and containers["sizes"] == ("<runtime>", "net.pair")
    index = ClassIndex()
    index.add(summary)
    assert index.builds_modules("net.make") and not index.builds_modules("net.pair")


def test_a_tree_class_defining_a_tensor_only_method_is_named_in_every_cache_key(tmp_path: Path) -> None:
    """A class of the tree with its own ``normal_()`` stops ``.normal_()`` proving a tensor anywhere in the tree,
    so every file's cached result must depend on it."""
    index = _tree(tmp_path, {"pkg/net.py": "import torch\nclass Net(torch.nn.Module):\n    pass\n",
                             "pkg/other_net.py": "class Factorized:\n    def normal_(self):\n        return self\n"})
    index.find_tensor_method_clashes()
    assert index.tensor_method_clashes == frozenset({"normal_"})
    net = summarise(tmp_path / "pkg/net.py", ast.parse((tmp_path / "pkg/net.py").read_text()))
    assert "defines .normal_()" in index.dependencies(net)
