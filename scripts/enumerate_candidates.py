"""List the attributes a labeller should look at in a pinned distribution, knowing nothing of nnreg.

    python scripts/enumerate_candidates.py pykan==0.2.8 [--sha256 HEX] > rows.tsv

The net is deliberately wide and rule-free, so that the labelled rows measure nnreg rather than
echo it: every ``self.NAME = VALUE`` (or annotated) in any method of any class whose file imports
torch, where VALUE could be a tensor to a reader who has not yet looked: it contains a call whose
callee is not CapWords (a function or method, not a class being built), or a subscript, an
arithmetic expression, ``.T``/``.data``, or a bare name that is an argument annotated as a tensor
or a local assigned such a value; ``torch.*Tensor(...)`` and methods on a call's result
(``nn.Parameter(x).to(d)``) are kept too. Plain literals, strings, lambdas, comprehensions and CapWords constructors
(``nn.Linear(...)``, ``MyBlock(...)``) are not listed. Each row gives one attribute of one class:
the first listed assignment in ``__init__`` (else in the first method, in source order), and the
method names of all its listed assignments, so that the labeller opens the code at the right place.

With ``--containers`` it lists plain containers instead (the candidates of rules NR101/NR102): every
``self.NAME = VALUE`` where VALUE is a list, tuple or dict display, a comprehension, or a
``list(...)``/``tuple(...)``/``dict(...)`` call, unless every element is a literal constant; and an
empty ``[]``/``{}``/``list()``/``dict()`` when the class later calls ``self.NAME.append``/``extend``/
``insert``/``update`` or assigns ``self.NAME[KEY]``. Whether the elements are modules, tensors or
anything else is left to the labeller.

Output: the manifest's columns with ``label`` and ``rationale`` empty, plus ``methods`` and
``expression`` columns for the labeller (drop them when the rows enter a manifest).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import CACHE, fetch_all  # noqa: E402

TENSOR_TYPE_NAMES = {"Tensor", "FloatTensor", "LongTensor", "DoubleTensor", "BoolTensor", "IntTensor",
                     "ByteTensor", "HalfTensor"}


def _callee_name(func: ast.expr) -> str:
    while isinstance(func, ast.Call):
        func = func.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _could_be_tensor(value: ast.expr, computed: set[str]) -> bool:
    if isinstance(value, (ast.Constant, ast.JoinedStr, ast.Lambda, ast.ListComp, ast.DictComp,
                          ast.SetComp, ast.GeneratorExp, ast.Dict, ast.Set)):
        return False
    if isinstance(value, (ast.List, ast.Tuple)):
        return False
    if isinstance(value, ast.Call):
        name = _callee_name(value.func)
        if name in TENSOR_TYPE_NAMES:
            return True
        if isinstance(value.func, ast.Attribute) and isinstance(value.func.value, ast.Call):
            return True  # a method on a call's result: nn.Parameter(x).to(d), torch.ones(3).cuda()
        return not name[:1].isupper()
    if isinstance(value, ast.IfExp):
        return _could_be_tensor(value.body, computed) or _could_be_tensor(value.orelse, computed)
    if isinstance(value, ast.Attribute):
        return value.attr in {"T", "mT", "data"}
    if isinstance(value, ast.Name):
        return value.id in computed
    return isinstance(value, (ast.Subscript, ast.BinOp, ast.UnaryOp, ast.Compare))


CONTAINER_CALLS = {"list", "tuple", "dict"}
FILLING_METHODS = {"append", "extend", "insert", "update", "setdefault"}


def _constant(value: ast.expr) -> bool:
    """A literal a reader never takes for a module or tensor: numbers, strings, None, and displays of them."""
    if isinstance(value, ast.Constant):
        return True
    if isinstance(value, ast.UnaryOp):
        return _constant(value.operand)
    if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
        return all(_constant(e) for e in value.elts)
    if isinstance(value, ast.Dict):
        return all(k is not None and _constant(k) and _constant(v) for k, v in zip(value.keys, value.values))
    return False


def _empty_container(value: ast.expr) -> bool:
    if isinstance(value, (ast.List, ast.Dict)):
        return not (value.elts if isinstance(value, ast.List) else value.keys)
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "dict")
            and not value.args and not value.keywords)


def _could_be_container(value: ast.expr) -> bool:
    """A container display, comprehension or constructor call that holds more than literal constants."""
    if isinstance(value, (ast.ListComp, ast.DictComp, ast.GeneratorExp)):
        return True
    if isinstance(value, (ast.List, ast.Tuple, ast.Dict)):
        return not _constant(value) and not _empty_container(value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in CONTAINER_CALLS:
        return bool(value.args or value.keywords) and not all(_constant(a) for a in value.args)
    return False


def _filled_attributes(cls: ast.ClassDef) -> set[str]:
    """``self.NAME`` that some method fills in place: ``self.NAME.append(...)`` or ``self.NAME[k] = ...``."""
    filled = set()
    for node in ast.walk(cls):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILLING_METHODS
                and isinstance(node.func.value, ast.Attribute) and isinstance(node.func.value.value, ast.Name)):
            filled.add(node.func.value.attr)
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute)
                        and isinstance(target.value.value, ast.Name)):
                    filled.add(target.value.attr)
    return filled


def _computed_names(method: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Arguments annotated with a tensor type, and locals assigned something that could be a tensor."""
    arguments = method.args.posonlyargs + method.args.args + method.args.kwonlyargs
    names = {a.arg for a in arguments if a.annotation is not None and "Tensor" in ast.unparse(a.annotation)}
    for node in ast.walk(method):
        if isinstance(node, ast.Assign) and not isinstance(node.value, ast.Name):
            if _could_be_tensor(node.value, set()):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _self_targets(node: ast.stmt, self_name: str) -> list[tuple[str, ast.expr]]:
    if isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets, value = [node.target], node.value
    else:
        return []
    return [(t.attr, value) for t in targets
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == self_name]


def _methods(cls: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _classes(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.ClassDef]]:
    """Every class in the file, at any depth (try/if/with/for bodies, functions), by qualified name."""
    found = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.ClassDef):
            name = f"{prefix}{node.name}"
            found.append((name, node))
            found += _classes(node, f"{name}.")
        else:
            found += _classes(node, prefix)
    return found


def rows_for_file(path: Path, relative: str, containers: bool = False) -> list[dict]:
    source = path.read_text(encoding="utf-8", errors="replace")
    if "torch" not in source:
        return []
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    rows = []
    for qualname, cls in _classes(tree):
        seen: dict[str, dict] = {}
        filled = _filled_attributes(cls) if containers else set()
        methods = sorted(_methods(cls), key=lambda m: (m.name != "__init__", m.lineno))
        for method in methods:
            if not method.args.args and not method.args.posonlyargs:
                continue
            self_name = (method.args.posonlyargs + method.args.args)[0].arg
            computed = _computed_names(method)
            for node in ast.walk(method):
                for attribute, value in _self_targets(node, self_name) if isinstance(node, ast.stmt) else []:
                    if containers:
                        if not (_could_be_container(value) or (_empty_container(value) and attribute in filled)):
                            continue
                    elif not _could_be_tensor(value, computed):
                        continue
                    row = seen.get(attribute)
                    if row is None:
                        seen[attribute] = row = {
                            "file": relative, "class": qualname, "attribute": attribute, "line": node.lineno,
                            "methods": [], "expression": lines[node.lineno - 1].strip()[:160],
                        }
                    if method.name not in row["methods"]:
                        row["methods"].append(method.name)
        rows += seen.values()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirement", help="name==version")
    parser.add_argument("--sha256", default=None, help="pin the wheel's hash (pip checks it)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where wheels are downloaded and unpacked")
    parser.add_argument("--containers", action="store_true", help="list plain containers (NR101/NR102 candidates)")
    args = parser.parse_args()
    root = fetch_all({args.requirement: args.sha256}, args.cache)[args.requirement]
    columns = ["distribution", "sha256", "file", "class", "attribute", "line", "label", "rationale",
               "methods", "expression"]
    print("\t".join(columns))
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for row in rows_for_file(path, relative, args.containers):
            print("\t".join([args.requirement, args.sha256 or "", row["file"], row["class"], row["attribute"],
                             str(row["line"]), "", "", ",".join(row["methods"]),
                             row["expression"].replace("\t", " ")]))


if __name__ == "__main__":
    main()
