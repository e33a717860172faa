"""The recorder of ``nnreg trace``: loaded by a ``sitecustomize`` into every Python process of the
user's command, it watches ``torch.nn.Module`` instances while the command runs.

Like ``probe.py`` it must not import nnreg (the user's environment may lack libcst and click), and it
must never change what the user's code does: every observation is wrapped so that a failure to
record is silent. It records, per module class and attribute:

- which values were assigned (``nn.Module.__setattr__``), with the assignment's file and line: plain
  tensors (dtype, shape, device, ``requires_grad``) and the types of values that were not tensors;
- whether a plain tensor changed in place while the module ran (its version counter moved between
  the start of one call and the start of the next, or during a call);
- whether it received a gradient, and whether forward ran with it on another device than the
  module's own parameters and buffers.

At exit each process writes ``NNREG_TRACE_DIR/trace-PID-N.json``; nnreg merges them.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import itertools
import json
import os
import sys
import weakref
from typing import Any

_RECORDS: dict[tuple[str, str, str], dict[str, Any]] = {}
_VERSIONS: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, int]]] = weakref.WeakKeyDictionary()
_TORCH: Any = None
_WRITES = itertools.count()


def _class_key(module: Any) -> tuple[str, str, str]:
    cls = type(module)
    source = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
    return os.path.realpath(source) if source else "", cls.__module__, cls.__qualname__


def _record(module: Any, name: str) -> dict[str, Any]:
    file, module_name, qualname = _class_key(module)
    key = (file, qualname, name)
    if key not in _RECORDS:
        _RECORDS[key] = {"file": file, "module": module_name, "class": qualname, "attribute": name, "kinds": {},
                         "dtypes": [], "shapes": [], "devices": [], "requires_grad": False, "mutated": False,
                         "got_grad": False, "device_mismatch": False, "sites": []}
    return _RECORDS[key]


def _assignment_site(frame: Any) -> list[Any]:
    """The line that assigned the attribute: the first frame above any ``__setattr__`` override."""
    while frame is not None and frame.f_code.co_name == "__setattr__":
        frame = frame.f_back
    if frame is None:
        return ["", 0, ""]
    return [os.path.realpath(frame.f_code.co_filename), frame.f_lineno, frame.f_code.co_name]


def _kind(module: Any, name: str, value: Any) -> str:
    torch = _TORCH
    if isinstance(value, torch.nn.Parameter) or name in module._parameters:
        return "parameter"
    if name in module._buffers:
        return "buffer"
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, torch.nn.Module):
        return "module"
    return type(value).__name__


def _note_tensor(entry: dict[str, Any], value: Any) -> None:
    for field, seen in (("dtypes", str(value.dtype).replace("torch.", "")), ("shapes", list(value.shape)),
                        ("devices", str(value.device))):
        if seen not in entry[field] and len(entry[field]) < 8:
            entry[field].append(seen)
    entry["requires_grad"] |= bool(value.requires_grad)


def _on_setattr(module: Any, name: str, value: Any, frame: Any) -> None:
    entry = _record(module, name)
    kind = _kind(module, name, value)
    entry["kinds"][kind] = entry["kinds"].get(kind, 0) + 1
    site = _assignment_site(frame)
    if site not in entry["sites"] and len(entry["sites"]) < 8:
        entry["sites"].append(site)
    if kind == "tensor":
        _note_tensor(entry, value)


def _plain_tensors(module: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items() if isinstance(value, _TORCH.Tensor)}


def _own_device(module: Any) -> Any:
    for value in itertools.chain(module._parameters.values(), module._buffers.values()):
        if value is not None:
            return value.device
    return None


def _before_forward(module: Any, args: Any) -> None:
    try:
        versions = _VERSIONS.setdefault(module, {})
        device = _own_device(module)
        for name, value in _plain_tensors(module).items():
            entry = _record(module, name)
            previous = versions.get(name)
            if previous is not None and previous[0] == id(value) and previous[1] != value._version:
                entry["mutated"] = True  # changed in place since the last call
            versions[name] = (id(value), value._version)
            entry["got_grad"] |= value.grad is not None
            if device is not None and value.device != device:
                entry["device_mismatch"] = True
    except Exception:  # noqa: BLE001 - recording must never break the user's run
        pass


def _after_forward(module: Any, args: Any, output: Any) -> None:
    try:
        versions = _VERSIONS.get(module, {})
        for name, value in _plain_tensors(module).items():
            previous = versions.get(name)
            if previous is not None and previous[0] == id(value) and previous[1] != value._version:
                _record(module, name)["mutated"] = True  # changed in place during this call
            versions[name] = (id(value), value._version)
    except Exception:  # noqa: BLE001
        pass


def _install(torch: Any) -> None:
    """Wrap ``nn.Module.__setattr__`` and add global forward hooks, once torch is imported."""
    global _TORCH
    _TORCH = torch
    module_class = torch.nn.Module
    original = module_class.__setattr__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        original(self, name, value)
        try:
            _on_setattr(self, name, value, sys._getframe(1))
        except Exception:  # noqa: BLE001
            pass

    module_class.__setattr__ = __setattr__
    torch.nn.modules.module.register_module_forward_pre_hook(_before_forward)
    torch.nn.modules.module.register_module_forward_hook(_after_forward)


class _TorchWatcher(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``torch`` is imported, it wraps torch's loader so that the recorder
    is installed right after torch's own ``__init__`` has run."""

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib protocol
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            try:
                _install(module)
            except Exception:  # noqa: BLE001
                pass

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _write() -> None:
    directory = os.environ.get("NNREG_TRACE_DIR")
    torch_dir = os.path.dirname(os.path.realpath(_TORCH.__file__)) + os.sep if _TORCH is not None else None
    records = [r for r in _RECORDS.values() if torch_dir and not r["file"].startswith(torch_dir)]
    if not directory or not records:  # torch's own layers register what they hold: no news there
        return
    path = os.path.join(directory, f"trace-{os.getpid()}-{next(_WRITES)}.json")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"records": records}, handle)
    except OSError:
        pass


def start() -> None:
    """Called by the ``sitecustomize`` that ``nnreg trace`` puts on ``PYTHONPATH``."""
    if "torch" in sys.modules:
        _install(sys.modules["torch"])
    else:
        sys.meta_path.insert(0, _TorchWatcher())
    atexit.register(_write)
