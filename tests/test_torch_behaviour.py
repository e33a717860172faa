"""Build every fixture module before and after the rewrite with real torch on the CPU.

Each fixture file that defines modules lists them in ``PROBE = {label: (build, make_inputs)}``. For
each: both versions build, forward gives the identical output for the same seed, every attribute
the tool says it fixed is now a Parameter or buffer (persistent as reported), it follows
``.to("meta")`` while before the rewrite it stayed behind on the CPU.
"""

from __future__ import annotations

import copy
import importlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codemod.rewrite import runtime_name
from conftest import CASES, Case

torch = pytest.importorskip("torch")

PROBED = [(case, path.relative_to(case.input)) for case in CASES for path in sorted(case.input.rglob("*.py"))
          if "PROBE = " in path.read_text(encoding="latin-1")]


def _import(tree: Path, package: str, relative: Path, tmp_path: Path):
    target = tmp_path / package
    shutil.copytree(tree, target)
    (target / "__init__.py").touch()
    module = ".".join([package, *relative.with_suffix("").parts])
    return importlib.import_module(module)


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("fx_")]:
        del sys.modules[name]


def _fixed(case: Case, relative: Path | None) -> dict[str, list[tuple[str, str, str]]]:
    """class qualname -> [(attribute, action, persistent)] for the findings ``fix`` applied in one file
    (every file: None)."""
    fixed: dict[str, list[tuple[str, str, str]]] = {}
    for line in case.expected_findings():
        location, target, _code, action, status, persistent, _first = line.split(" ")
        if status == "fixed" and (relative is None or location.startswith(relative.as_posix() + ":")):
            qualname, _, attribute = target.rpartition(".")
            fixed.setdefault(qualname, []).append((attribute, action, persistent.split("=")[1]))
    return fixed


CONTAINERS = {"module-list": "ModuleList", "module-dict": "ModuleDict", "parameter-list": "ParameterList",
              "parameter-dict": "ParameterDict"}


def _check_container(before, after, attribute: str, container: str) -> None:
    """NR101/NR102: the torch container now holds what the plain one held, so ``parameters()`` has the
    contained parameters (it had none of them before) and ``.to("meta")`` moves them."""
    held = getattr(after, attribute)
    assert type(held).__name__ == container and attribute in after._modules
    inside = {id(p) for p in held.parameters()}
    assert inside and inside <= {id(p) for p in after.parameters()}
    plain = getattr(before, attribute)
    elements = plain.values() if isinstance(plain, dict) else plain
    before_inside = {id(p) for e in elements for p in (e.parameters() if isinstance(e, torch.nn.Module) else [e])}
    assert not before_inside & {id(p) for p in before.parameters()}
    assert all(p.device.type == "meta" for p in getattr(copy.deepcopy(after).to("meta"), attribute).parameters())


def test_every_case_with_modules_is_probed() -> None:
    assert len(PROBED) >= 40


@pytest.mark.parametrize(("case", "relative"), PROBED, ids=lambda v: v.name if isinstance(v, Case) else str(v))
def test_rewrite_preserves_behaviour_and_registers(case: Case, relative: Path, importable: Path) -> None:
    tag = case.name
    before_mod = _import(case.input, f"fx_{tag}_before", relative, importable)
    after_mod = _import(case.expected, f"fx_{tag}_after", relative, importable)
    fixed = _fixed(case, relative)
    verified: set[tuple[str, str]] = set()
    for label, (build_before, make_inputs) in before_mod.PROBE.items():
        build_after = after_mod.PROBE[label][0]
        torch.manual_seed(0)
        before = build_before()
        torch.manual_seed(0)
        after = build_after()
        torch.manual_seed(1)
        inputs = make_inputs()
        torch.testing.assert_close(after(*inputs), before(*inputs), rtol=0, atol=0, equal_nan=True)
        for written, action, persistent in fixed.get(type(after).__qualname__, []):
            attribute = runtime_name(written, type(after).__name__)  # self.__x is stored as _Class__x
            if getattr(after, attribute) is None:
                continue
            assert attribute not in before._parameters and attribute not in before._buffers
            if action in CONTAINERS:
                _check_container(before, after, attribute, CONTAINERS[action])
                verified.add((type(after).__qualname__, written))
                continue
            registry = after._parameters if action == "parameter" else after._buffers
            assert attribute in registry, f"{label}.{attribute} is not registered as a {action}"
            if action == "buffer":
                assert (attribute in after.state_dict()) == (persistent == "True")
            assert getattr(copy.deepcopy(after).to("meta"), attribute).device.type == "meta"
            # a fresh build rather than a deepcopy: a plain non-leaf tensor attribute cannot be deep-copied;
            # forward runs first, so that state built on the first call exists before the move
            fresh = build_before()
            fresh(*inputs)
            assert getattr(fresh.to("meta"), attribute).device.type == "cpu"
            verified.add((type(after).__qualname__, written))
        added = set(after.state_dict()) - set(before.state_dict())
        expected_new = {runtime_name(a, type(after).__name__) for a, action, p in fixed.get(type(after).__qualname__, [])
                        if (action == "parameter" or p == "True")
                        and getattr(after, runtime_name(a, type(after).__name__)) is not None}
        anywhere = _fixed(case, None)  # containers held by submodules and by bases in other files add keys too
        held = {f"{name}.{a}" if name else a for name, module in after.named_modules()
                for cls in type(module).__mro__ for a, action, _ in anywhere.get(cls.__qualname__, [])
                if action in CONTAINERS}
        assert {key for key in added if not any(key.startswith(prefix + ".") for prefix in held)} == expected_new
        assert all(any(key.startswith(prefix + ".") for key in added) for prefix in held)
    assert verified == {(qualname, a) for qualname, items in fixed.items() for a, _, _ in items}
