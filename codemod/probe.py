"""The runtime probe: run as a script under the user's interpreter, it needs only torch there.

    python probe.py REQUESTS_FD REPLIES_FD

A long-lived process: it imports torch once, then serves requests (one module file and its classes
each) read as JSON lines from one pipe, and answers on another (never on stdout, which user code may
print to): one message per class as soon as it is probed, then ``done``. A request can replace the
module's source (``source``) to verify a rewrite without touching the file on disk. Every class is
probed on its own: an error in one is recorded and the next one runs. This file must not import
nnreg: the user's environment may not have libcst or click.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import importlib.abc
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types
from collections.abc import Iterator
from typing import Any


class _SourceOverride(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves a replacement source for one module name, at the original file's path (so relative
    imports and ``__file__`` behave as they do for the file on disk)."""

    def __init__(self, name: str, path: str, source: str) -> None:
        self.name, self.path, self.source = name, path, source

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib protocol
        if fullname != self.name:
            return None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self)

    def create_module(self, spec):  # noqa: ANN001
        return None

    def exec_module(self, module) -> None:  # noqa: ANN001
        exec(compile(self.source, self.path, "exec"), module.__dict__)


def _error(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _resolve(obj: Any, qualname: str) -> Any:
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _inputs(spec: str | None, torch: Any) -> tuple | None:
    """``"torch.randn(2, 10)"`` (evaluated with torch in scope) or ``"pkg.probes:make_inputs"``."""
    if not spec:
        return None
    if ":" in spec and "(" not in spec.split(":")[0]:
        module, _, name = spec.partition(":")
        value = getattr(importlib.import_module(module), name)()
    else:
        value = eval(spec, {"torch": torch})  # noqa: S307 - the user's own config, like the code it probes
    return value if isinstance(value, tuple) else (value,)


def _to(value: Any, device: str) -> Any:
    if hasattr(value, "to") and hasattr(value, "device"):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    return value


def _leaves(value: Any, torch: Any, path: str = "output") -> Iterator[tuple[str, Any]]:
    """Every tensor and number in a forward's output, with where it sits: tuples, lists, dicts, named
    tuples and dataclasses are walked; any other object is compared by its type name."""
    if isinstance(value, torch.Tensor) or value is None or isinstance(value, (bool, int, float, complex, str)):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from _leaves(getattr(value, item.name), torch, f"{path}.{item.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, torch, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            yield from _leaves(item, torch, f"{path}[{position}]")
    else:
        yield path, f"<{type(value).__qualname__}>"


def _digest(value: Any, torch: Any) -> str:
    if not isinstance(value, torch.Tensor):
        return repr(value)
    data = value.detach().cpu().contiguous()
    raw = bytes(data.view(-1).view(torch.uint8).tolist())  # no NumPy: it is not a dependency of the probe
    return hashlib.sha256(f"{data.dtype}{tuple(data.shape)}".encode() + raw).hexdigest()


def _output(value: Any, torch: Any) -> dict[str, str]:
    """A digest of each leaf of the output, so that a change anywhere in it is seen and named."""
    return {path: _digest(leaf, torch) for path, leaf in _leaves(value, torch)}


def _unregistered(module: Any, torch: Any) -> dict[str, Any]:
    registered = set(module._parameters) | set(module._buffers) | set(module._modules)
    return {name: value for name, value in vars(module).items()
            if isinstance(value, torch.Tensor) and name not in registered}


def probe_class(cls: Any, spec: dict[str, Any], target: str, torch: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"built": False, "error": None, "target": target, "python": sys.executable,
                              "torch": torch.__version__, "attributes": {},
                              "forward_error": None, "output": None, "state_dict": None, "left_behind": []}
    needed = [] if spec.get("args") or spec.get("kwargs") else _required_arguments(cls)
    if needed:
        report.update(error=f"not built: needs {', '.join(needed)}", why="needs-arguments")
        return report
    try:
        model = _build(cls, spec, torch)
    except BaseException as exc:  # noqa: BLE001 - user code: anything can happen, even SystemExit
        report.update(error=f"not built: {_error(exc)}", why="raised")
        return report
    report["built"] = True
    report["state_dict"] = sorted(model.state_dict())
    plain = _unregistered(model, torch)
    for name in spec.get("candidates", []):
        value = model._parameters.get(name, model._buffers.get(name, vars(model).get(name)))
        if name in model._parameters:
            kind = "parameter"
        elif name in model._buffers:
            kind = "buffer"
        elif name in plain:
            kind = "tensor"
        elif name in model._modules:
            kind, value = "module", model._modules[name]
        else:
            kind = type(value).__name__ if name in vars(model) else "absent"
        entry: dict[str, Any] = {"kind": kind}
        if isinstance(value, torch.Tensor):
            entry.update(dtype=str(value.dtype).replace("torch.", ""), shape=list(value.shape),
                         device=str(value.device), requires_grad=bool(value.requires_grad))
        elif isinstance(value, (list, tuple, dict)):  # a plain container (NR101/NR102): what it holds
            entry["elements"] = _element_kinds(value.values() if isinstance(value, dict) else value, torch)
            if isinstance(value, dict):
                entry["string_keys"] = all(isinstance(key, str) for key in value)
        report["attributes"][name] = entry
    try:
        moved = copy.deepcopy(model).to(target)
        report["left_behind"] = sorted(name for name, value in _unregistered(moved, torch).items()
                                       if value.device.type != target)
    except BaseException as exc:  # noqa: BLE001
        report["forward_error"] = f"cannot move to {target}: {_error(exc)}"
        return report
    try:
        inputs = _inputs(spec.get("inputs"), torch)
    except BaseException as exc:  # noqa: BLE001
        report["forward_error"] = f"cannot build inputs: {_error(exc)}"
        return report
    if inputs is None:
        return report
    try:
        with torch.no_grad():
            moved(*_to(inputs, target))
    except BaseException as exc:  # noqa: BLE001
        report["forward_error"] = _error(exc)
    _gradients(cls, spec, inputs, report, torch)
    return report


def _element_kinds(elements: Any, torch: Any) -> list[str]:
    """What a plain container holds, in the words of codemod/containers.py's element kinds."""
    kinds = set()
    for element in elements:
        if isinstance(element, torch.nn.Parameter):
            kinds.add("parameter")
        elif isinstance(element, torch.nn.Module):
            kinds.add("module")
        elif isinstance(element, torch.Tensor):
            kinds.add("trainable" if element.requires_grad else "tensor")
        else:
            kinds.add("none" if element is None else "other")
    return sorted(kinds)


def _required_arguments(cls: Any) -> list[str]:
    """Constructor arguments without a default: without a recipe in the config, nothing to build with."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _build(cls: Any, spec: dict[str, Any], torch: Any) -> Any:
    torch.manual_seed(0)
    args = [_value(v, torch) for v in spec.get("args", [])]
    return cls(*args, **{k: _value(v, torch) for k, v in spec.get("kwargs", {}).items()})


def _value(value: Any, torch: Any) -> Any:
    """Constructor arguments are TOML literals; ``"=torch.ones(2, 3)"`` is a Python expression."""
    if isinstance(value, str) and value.startswith("="):
        return eval(value[1:], {"torch": torch})  # noqa: S307 - the user's own config
    return value


def _gradients(cls: Any, spec: dict[str, Any], inputs: tuple, report: dict[str, Any], torch: Any) -> None:
    """On the CPU, on fresh instances: the output for the seed and which candidates change in place
    during forward; then, with each other floating candidate made to require grad, which get one."""
    names = [n for n in spec.get("candidates", []) if report["attributes"].get(n, {}).get("kind") == "tensor"]
    try:
        model = _build(cls, spec, torch)
        versions = {name: vars(model)[name]._version for name in names}
        with torch.no_grad():
            try:
                report["output"] = _output(model(*inputs), torch)
            except BaseException as exc:  # noqa: BLE001
                report["output_error"] = _error(exc)
                return
        for name in names:
            report["attributes"][name]["mutated"] = vars(model)[name]._version != versions[name]
        model = _build(cls, spec, torch)
        watched = {}
        for name in names:
            value = vars(model)[name]
            if value.is_floating_point() and not report["attributes"][name]["mutated"]:
                watched[name] = value.detach().clone().requires_grad_(True)
                setattr(model, name, watched[name])
        differentiable = [leaf for _, leaf in _leaves(model(*inputs), torch)
                          if isinstance(leaf, torch.Tensor) and leaf.requires_grad]
        if differentiable:
            sum(leaf.float().sum() for leaf in differentiable).backward()
        for name, value in watched.items():
            report["attributes"][name]["gets_grad"] = value.grad is not None
    except BaseException as exc:  # noqa: BLE001
        report["cpu_error"] = _error(exc)


def _target(device: str, torch: Any) -> str:
    return ("cuda" if torch.cuda.is_available() else "meta") if device == "auto" else device


def _run_notebook(name: str, path: str, source: str) -> tuple[Any, str | None]:
    """A notebook's code cells (joined by nnreg, IPython syntax masked: magics and shell lines do not
    run), run in order in a fresh module, in the notebook's folder, as Jupyter's "Run All" does. A
    cell that raises stops the run there, and the classes defined before it can still be probed."""
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - user code: SystemExit included
        return module, f"the notebook's cells stopped: {_error(exc)}"
    return module, None


def handle(request: dict[str, Any], torch: Any, send: Any) -> None:
    """Probe the classes of one module file, sending one message per class, then ``done``. The module
    is imported afresh (a rewritten ``source`` replaces the file's bytes for this request only); a
    notebook's cells are run in its folder."""
    name = request["module"]
    if request["root"] not in sys.path:
        sys.path.insert(0, request["root"])
    sys.modules.pop(name, None)
    if request.get("notebook"):
        cwd = os.getcwd()
        os.chdir(os.path.dirname(request["path"]))
        try:
            module, stopped = _run_notebook(name, request["path"], request["source"])
            _probe_classes(module, request, torch, send, stopped)
        finally:
            os.chdir(cwd)
            sys.modules.pop(name, None)
        send({"done": True, "error": None})
        return
    override = _SourceOverride(name, request["path"], request["source"]) if request.get("source") is not None else None
    if override is not None:
        sys.meta_path.insert(0, override)
    try:
        module = importlib.import_module(name)
    except BaseException as exc:  # noqa: BLE001 - SystemExit on import included
        send({"done": True, "error": f"cannot import {name}: {_error(exc)}"})
        return
    finally:
        if override is not None:
            sys.meta_path.remove(override)
    _probe_classes(module, request, torch, send)
    if override is not None:
        sys.modules.pop(name, None)  # later requests see the file on disk again
    send({"done": True, "error": None})


def _probe_classes(module: Any, request: dict[str, Any], torch: Any, send: Any, stopped: str | None = None) -> None:
    """One message per class; a class that a notebook's stopped run never defined gets why it stopped."""
    target = _target(request.get("device", "auto"), torch)
    for spec in request["classes"]:
        try:
            cls = _resolve(module, spec["qualname"])
        except BaseException as exc:  # noqa: BLE001 - a module ``__getattr__`` is user code too
            report = {"built": False, "error": stopped or _error(exc), "why": "cells-stopped" if stopped else "not-found"}
        else:
            try:
                report = probe_class(cls, spec, target, torch)
            except BaseException as exc:  # noqa: BLE001
                report = {"built": False, "error": _error(exc), "why": "not-found"}
        send({"qualname": spec["qualname"], "report": report})


def main() -> None:
    """``python probe.py REQUESTS_FD REPLIES_FD``: one JSON request per line in, JSON lines out."""
    requests, replies = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb", buffering=0)
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # nnreg's own modules (config.py, cli.py, ...) must not shadow the user's

    def send(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message).encode() + b"\n")

    try:
        import torch
    except BaseException as exc:  # noqa: BLE001
        send({"ready": False, "error": f"torch cannot be imported here: {_error(exc)}"})
        return
    send({"ready": True, "torch": torch.__version__})  # nnreg's time limits for user code start now
    for line in requests:
        handle(json.loads(line), torch, send)


if __name__ == "__main__":
    main()
