"""The construction invariant over every fixture: each module class that builds with its defaults before
``nnreg fix`` still builds after it, and nothing registered is anything but a tensor or None.

(``scripts/construction_check.py`` checks the same on the labelled real-world corpora.)"""

from __future__ import annotations

import importlib
import inspect
import shutil
import sys
from pathlib import Path

import pytest

from conftest import CASES, Case

torch = pytest.importorskip("torch")


def _classes(tree: Path, package: str, tmp_path: Path) -> dict[str, type]:
    target = tmp_path / package
    shutil.copytree(tree, target)
    (target / "__init__.py").touch()
    found: dict[str, type] = {}
    for path in sorted(target.rglob("*.py")):
        if path.name == "__init__.py":
            continue
        try:
            module = importlib.import_module(".".join([package, *path.relative_to(target).with_suffix("").parts]))
        except ImportError:  # a fixture about a library that is not installed: nothing to build
            continue
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and obj.__module__ == module.__name__:
                found[f"{path.relative_to(target).as_posix()}:{name}"] = obj
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rewritten_classes_still_build(case: Case, tmp_path: Path) -> None:
    sys.path.insert(0, str(tmp_path))
    try:
        before = _classes(case.input, f"cx_{case.name}_before", tmp_path)
        after = _classes(case.expected, f"cx_{case.name}_after", tmp_path)
        assert before.keys() == after.keys()
        for key, cls in before.items():
            try:
                cls()
            except Exception:  # needs arguments, or fails on purpose: nothing to compare
                continue
            built = after[key]()
            for name, value in [*built.named_parameters(recurse=False), *built.named_buffers(recurse=False)]:
                assert value is None or isinstance(value, torch.Tensor), f"{key}.{name} registered {type(value)}"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("cx_")]:
            del sys.modules[name]
