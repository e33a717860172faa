"""The cheap stage's candidate test: can this class hold a finding at all?

libcst only runs on files where some module class passes this test, so it must never say no where
the full analysis (``tensors.classify``) could find a tensor. It over-approximates that classifier
on the :mod:`ast` tree already parsed for the class index: order and branches are ignored, a value
is "tensor-like" when it can reach a torch call, a tensor-annotated argument, a local or attribute
assigned such a value anywhere in the class, or a registered tensor of a torch layer.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .imports import ImportTable, dotted_name
from .returns import tree_callee
from .torch_facts import (BUFFER_FACTORIES, INPUT_TYPED_FUNCTIONS, LAYER_TENSORS, NAMED_FUNCTION_OWNERS, NON_FLOATING_DTYPES,
                          PARAMETER_FACTORIES, TENSOR_ONLY_METHODS, TENSOR_TYPES, VALUES_AND_INDICES,
                          function_returns, is_module_constructor)

_REGISTERED = PARAMETER_FACTORIES | BUFFER_FACTORIES
_MAY_BE_TENSOR = frozenset({"tensor", "tensor_or_tuple", "tensor_or_other"})


def _torch_getattr(func: ast.expr, imports: ImportTable) -> bool:
    """``getattr(torch, name)``: some torch function, chosen by a value."""
    return (isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "getattr"
            and len(func.args) == 2 and imports.resolve(dotted_name(func.args[0])) in NAMED_FUNCTION_OWNERS)


def _to_non_floating(call: ast.Call, imports: ImportTable) -> bool:
    """``x.to(torch.bool)``: a tensor only (``torch_facts.NON_FLOATING_DTYPES``)."""
    values = [*call.args, *(k.value for k in call.keywords if k.arg == "dtype")]
    return any(imports.resolve(dotted_name(v)) in NON_FLOATING_DTYPES for v in values)


def _values_and_indices(node: ast.expr, imports: ImportTable) -> bool:
    """``torch.sort(x)`` & co: a named tuple whose fields (``.values``, ``[0]``) are tensors."""
    return isinstance(node, ast.Call) and (imports.resolve(dotted_name(node.func)) or "").removeprefix(
        "torch.") in VALUES_AND_INDICES


class _Taint:
    """Names and attributes that may hold tensors, grown to a fixed point over the class."""

    def __init__(self, scans: list[MethodScan]) -> None:
        self.attributes: set[str] = set()
        self.modules: set[str] = set()
        self.locals: dict[str, set[str]] = {s.method.name: _tensor_arguments(s) for s in scans}
        self.tables: dict[str, ImportTable] = {s.method.name: s.imports for s in scans}
        self.assignments = [a for scan in scans for a in scan.assignments]

    def tensor_like(self, node: ast.expr | None, me: str, local: set[str], imports: ImportTable) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Call):
            qualified = imports.resolve(dotted_name(node.func))
            if qualified in INPUT_TYPED_FUNCTIONS:
                return bool(node.args) and self.tensor_like(node.args[0], me, local, imports)
            if qualified:  # registered tensors count: expressions on them are tensors too
                return function_returns(qualified) in _MAY_BE_TENSOR or qualified in _REGISTERED
            if _torch_getattr(node.func, imports):  # ``getattr(torch, window)(n)``: the classifier decides
                return True
            if isinstance(node.func, ast.Attribute) and (node.func.attr in TENSOR_ONLY_METHODS or (
                    node.func.attr == "to" and _to_non_floating(node, imports))):
                return True  # ``mask.unsqueeze(1)``: works on a tensor only (``tensors._typed_by_method``)
            return isinstance(node.func, ast.Attribute) and self.tensor_like(node.func.value, me, local, imports)
        if isinstance(node, ast.Name):
            return node.id in local
        if isinstance(node, ast.Attribute):
            chain = dotted_name(node)
            if chain and chain.startswith(me + "."):
                head, _, rest = chain[len(me) + 1:].partition(".")
                return head in self.attributes or (head in self.modules and rest in LAYER_TENSORS)
            return _values_and_indices(node.value, imports) or self.tensor_like(node.value, me, local, imports)
        if isinstance(node, (ast.Subscript, ast.Starred)):
            return _values_and_indices(node.value, imports) or self.tensor_like(node.value, me, local, imports)
        if isinstance(node, ast.BinOp):
            return self.tensor_like(node.left, me, local, imports) or self.tensor_like(node.right, me, local, imports)
        if isinstance(node, ast.UnaryOp):
            return not isinstance(node.op, ast.Not) and self.tensor_like(node.operand, me, local, imports)
        if isinstance(node, ast.Compare):
            return any(self.tensor_like(n, me, local, imports) for n in [node.left, *node.comparators])
        if isinstance(node, ast.IfExp):
            return self.tensor_like(node.body, me, local, imports) or self.tensor_like(node.orelse, me, local, imports)
        return False

    def grow(self) -> None:
        """Spread taint through assignments until nothing changes."""
        changed = True
        while changed:
            changed = False
            for method, me, target, value in self.assignments:
                if not self.tensor_like(value, me, self.locals[method.name], self.tables[method.name]):
                    continue
                if isinstance(target, ast.Name) and target.id not in self.locals[method.name]:
                    self.locals[method.name].add(target.id)
                    changed = True
                attribute = _self_attribute(target, me)
                if attribute and attribute not in self.attributes:
                    self.attributes.add(attribute)
                    changed = True


_SCANNED = frozenset({ast.Attribute, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Call})
Assignment = tuple[ast.FunctionDef | ast.AsyncFunctionDef, str, ast.expr, ast.expr]


@dataclass
class MethodScan:
    """One walk of a method, shared by the class summary (registrations) and the candidate test."""

    method: ast.FunctionDef | ast.AsyncFunctionDef
    me: str
    imports: ImportTable  # the module's table as this method sees it (its own imports, shadowed names)
    assignments: list[Assignment]  # (method, self name, target, value), ``setattr`` included
    self_calls: list[ast.Call]  # ``self.something(...)``
    reads: set[str]  # ``X`` of every ``self.X`` the method loads
    tree_calls: set[str]  # functions of the tree it calls (``self.m`` for methods): they may return tensors
    # ``self.X.append(v)``/``extend``/``insert``/``update``/``setdefault``, ``self.X += v`` and ``self.X[k] = v``:
    # (X, v), what fills a plain container
    fills: list[tuple[str, ast.expr]] = field(default_factory=list)
    # ``X`` of every ``self.X.m(...)`` whose method only tensors have: whatever ``self.X`` was given is a tensor
    tensor_uses: set[str] = field(default_factory=set)


def scan_method(method: ast.FunctionDef | ast.AsyncFunctionDef, imports: ImportTable,
                nodes: list[ast.AST]) -> MethodScan | None:
    """The bindings and calls on ``self`` of a method, read from its ``nodes`` (``astnodes.walk``, in
    any order); None for a method without arguments."""
    positional = method.args.posonlyargs + method.args.args
    if not positional:
        return None
    me = positional[0].arg
    scan = MethodScan(method, me, imports, [], [], set(), set())
    for node in nodes:
        if type(node) not in _SCANNED:  # most nodes: one set lookup instead of four isinstance tests
            continue
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == me and isinstance(node.ctx, ast.Load):
                scan.reads.add(node.attr)
        elif isinstance(node, ast.Assign):
            scan.assignments.extend((method, me, target, node.value) for target in node.targets)
            scan.fills.extend((t.value.attr, node.value) for t in node.targets  # type: ignore[attr-defined]
                              if isinstance(t, ast.Subscript) and _self_attribute(t.value, me))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            scan.assignments.append((method, me, node.target, node.value))
        elif isinstance(node, ast.AugAssign):  # ``self.X += [...]`` fills a plain container
            if _self_attribute(node.target, me) and isinstance(node.op, ast.Add):
                scan.fills.append((node.target.attr, node.value))  # type: ignore[attr-defined]
        elif isinstance(node, ast.Call):
            callee = tree_callee(node, imports, me)
            if callee is not None:
                scan.tree_calls.add(callee)
            func = node.func
            if isinstance(func, ast.Name) and func.id == "setattr" and len(node.args) >= 3:
                name = node.args[1]
                attr = name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else "<setattr>"
                scan.assignments.append((method, me, ast.Attribute(value=node.args[0], attr=attr), node.args[2]))
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == me:
                scan.self_calls.append(node)
            elif isinstance(func, ast.Attribute) and func.attr in TENSOR_ONLY_METHODS and _self_attribute(func.value, me):
                scan.tensor_uses.add(func.value.attr)  # type: ignore[attr-defined]
            elif (isinstance(func, ast.Attribute) and func.attr in _FILLING and node.args
                  and _self_attribute(func.value, me)):
                scan.fills.append((func.value.attr, node.args[-1].value if isinstance(node.args[-1], ast.Starred)  # type: ignore[attr-defined]
                                   else node.args[-1]))
    return scan


def _self_attribute(target: ast.expr, me: str) -> str | None:
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == me:
        return target.attr
    return None


def _tensor_arguments(scan: MethodScan) -> set[str]:
    arguments = scan.method.args
    return {arg.arg for arg in arguments.posonlyargs + arguments.args + arguments.kwonlyargs
            if arg.annotation is not None and scan.imports.resolve(dotted_name(arg.annotation)) in TENSOR_TYPES}


def may_hold_tensor(scans: list[MethodScan], layer_tensors: frozenset[str] = frozenset()) -> tuple[bool, frozenset[str]]:
    """Can some method assign ``self.X`` (directly, in a tuple, chained or by ``setattr``) a tensor?

    Returns (yes by torch facts alone, the tree functions whose returns decide it otherwise): the
    functions called where a value reaches ``self.X`` in the same method (through arithmetic,
    indexing, methods, conditionals and locals), which is how the classifier types them; the class
    index answers once every file is known."""
    taint = _Taint(scans)
    taint.attributes |= layer_tensors  # ``self.weight`` of a torch layer subclass: a tensor to build from
    if _assigns_tensor(taint) or _used_as_tensor(scans):
        return True, frozenset()
    sources: set[str] = set()
    for scan in scans:
        values: dict[str, list[ast.expr]] = {}
        for _method, _me, target, value in scan.assignments:
            if isinstance(target, ast.Name):
                values.setdefault(target.id, []).append(value)
        for _method, me, target, value in scan.assignments:
            if _self_attribute(target, me):
                sources |= _value_callees(value, values, scan.imports, me, set())
    return False, frozenset(sources)


def _value_callees(node: ast.expr, values: dict[str, list[ast.expr]], imports: ImportTable, me: str,
                   seen: set[str]) -> set[str]:
    """Tree functions whose result can become ``node``'s value."""
    if isinstance(node, ast.Call):
        callee = tree_callee(node, imports, me)
        found = {callee} if callee else set()
        if isinstance(node.func, ast.Attribute):
            found |= _value_callees(node.func.value, values, imports, me, seen)
        return found
    if isinstance(node, ast.Name):
        if node.id in seen:
            return set()
        seen.add(node.id)
        return {c for v in values.get(node.id, []) for c in _value_callees(v, values, imports, me, seen)}
    children: list[ast.expr] = []
    if isinstance(node, ast.BinOp):
        children = [node.left, node.right]
    elif isinstance(node, ast.IfExp):
        children = [node.body, node.orelse]
    elif isinstance(node, (ast.Subscript, ast.Attribute, ast.Starred)):
        children = [node.value]
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    return {c for child in children for c in _value_callees(child, values, imports, me, seen)}


def _used_as_tensor(scans: list[MethodScan]) -> bool:
    """Some ``self.X`` is assigned any value and called a tensor-only method on (``decision.typed_by_use``)."""
    used = set().union(*(scan.tensor_uses for scan in scans))
    return bool(used) and any(_self_attribute(target, me) in used for scan in scans
                              for _method, me, target, _value in scan.assignments)


def _assigns_tensor(taint: _Taint) -> bool:
    for method, me, target, value in taint.assignments:
        if (_self_attribute(target, me) and isinstance(value, ast.Call)
                and is_module_constructor(taint.tables[method.name].resolve(dotted_name(value.func)) or "")):
            taint.modules.add(target.attr)  # type: ignore[union-attr]
    taint.grow()
    for method, me, target, value in taint.assignments:
        targets = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and isinstance(target, (ast.Tuple, ast.List)) else [value]
        if any(_self_attribute(t, me) for t in targets) and any(
                _candidate(v, taint, me, taint.locals[method.name], taint.tables[method.name]) for v in values):
            return True
    return False


def _candidate(value: ast.expr, taint: _Taint, me: str, local: set[str], imports: ImportTable) -> bool:
    """Could the full analysis classify this assigned value as a (not yet registered) tensor?"""
    if isinstance(value, ast.Call) and imports.resolve(dotted_name(value.func)) in _REGISTERED:
        return False
    if isinstance(value, ast.IfExp):  # a tensor only when each branch is a tensor, None or registered
        branches = [b for b in (value.body, value.orelse) if not (isinstance(b, ast.Constant) and b.value is None)
                    and not (isinstance(b, ast.Call) and imports.resolve(dotted_name(b.func)) in _REGISTERED)]
        return bool(branches) and all(_candidate(b, taint, me, local, imports) for b in branches)
    return taint.tensor_like(value, me, local, imports)


_CONTAINER_DISPLAYS = (ast.List, ast.Tuple, ast.Dict, ast.ListComp, ast.DictComp)
_CONTAINER_BUILTINS = frozenset({"list", "tuple", "dict"})


def is_container_value(value: ast.expr, imports: ImportTable) -> bool:
    """``[...]``, ``(...)``, ``{...}``, a list or dict comprehension, or ``list(...)``/``tuple(...)``/
    ``dict(...)`` (the builtins, not a name the file rebinds): the values rules NR101/NR102 look at.
    A display of literal constants only (``(3, 3)``, ``["a", "b"]``) holds neither modules nor tensors."""
    if isinstance(value, (ast.List, ast.Tuple)):
        return not value.elts or not all(isinstance(e, ast.Constant) for e in value.elts)
    if isinstance(value, ast.Dict):
        return not value.values or not all(isinstance(v, ast.Constant) for v in value.values)
    if isinstance(value, _CONTAINER_DISPLAYS):
        return True
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in _CONTAINER_BUILTINS
            and not imports.is_bound(value.func.id))


_FILLING = frozenset({"append", "extend", "insert", "update", "setdefault"})
# Builtins whose result is never a module or a tensor: ``[dict(num_chs=...)]`` holds neither.
_PLAIN_BUILTINS = frozenset({"dict", "int", "float", "str", "bool", "len", "range", "tuple", "list", "set", "sum",
                             "min", "max", "abs", "round", "sorted", "zip", "enumerate", "repr", "format"})


def _may_hold(node: ast.expr, scan: MethodScan, seen: set[str], sources: set[str]) -> bool:
    """Could this element be a module or a tensor to codemod/containers.py? Only what it can type can:
    a call of torch or of a class (CapWords, by PEP 8), a method called on such a value, a local assigned
    one, and arithmetic, indexing and displays of those. A call of a function of the tree decides it
    when the class index knows what that returns: it goes into ``sources``. A literal, an argument, a
    loop variable, ``self.a`` or a plain builtin (``[dict(num_chs=c)]``) never makes a finding."""
    if isinstance(node, ast.Call):
        func = node.func
        qualified = scan.imports.resolve(dotted_name(func)) or ""
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if qualified.startswith("torch.") or name[:1].isupper():
            return True
        callee = tree_callee(node, scan.imports, scan.me)
        if callee is not None:
            sources.add(callee)
            return False
        if isinstance(func, ast.Call):  # ``getattr(torch, name)(...)``
            return True
        return isinstance(func, ast.Attribute) and _may_hold(func.value, scan, seen, sources)
    if isinstance(node, ast.Name):
        if node.id in seen:
            return False
        seen.add(node.id)
        return any(_may_hold(value, scan, seen, sources) for _m, _me, target, value in scan.assignments
                   if isinstance(target, ast.Name) and target.id == node.id)
    parts: list[ast.expr | None] = []
    if isinstance(node, (ast.Subscript, ast.Starred, ast.Attribute)):
        parts = [node.value]
    elif isinstance(node, ast.BinOp):
        parts = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        parts = [node.operand]
    elif isinstance(node, ast.IfExp):
        parts = [node.body, node.orelse]
    elif isinstance(node, ast.Compare):
        parts = [node.left, *node.comparators]
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        parts = list(node.elts)
    elif isinstance(node, ast.Dict):
        parts = list(node.values)
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp)):
        parts = [node.elt]
    elif isinstance(node, ast.DictComp):
        parts = [node.value]
    return any(part is not None and _may_hold(part, scan, seen, sources) for part in parts)


def _held(value: ast.expr) -> list[ast.expr]:
    """The elements of a plain container value (``is_container_value``)."""
    if isinstance(value, ast.Call):  # list(...), tuple(...), dict(...): what they are given
        return [*value.args, *(k.value for k in value.keywords)]
    return [value]


RUNTIME_ONLY = "<runtime>"  # a source no tree function answers: only the probe types what the container holds


def container_attributes(scans: list[MethodScan]) -> dict[str, tuple[str, ...]]:
    """Every ``self.X`` some method assigns a plain container to (``is_container_value``), mapped to what
    decides whether it may hold a module or a tensor (``_may_hold``): nothing (it may, whatever they
    return), the tree functions whose returns the class index types, or ``RUNTIME_ONLY`` (only
    ``--confirm`` can tell). Rules NR101/NR102 send a class to stage 2 on that; lists of numbers,
    names, shapes and ``dict(...)`` records stay in stage 1 unless runtime evidence was asked for."""
    fills: dict[str, list[tuple[MethodScan, ast.expr]]] = {}
    for scan in scans:
        for attribute, value in scan.fills:
            fills.setdefault(attribute, []).append((scan, value))
    found: dict[str, tuple[str, ...]] = {}
    for scan in scans:
        for _method, me, target, value in scan.assignments:
            attribute = _self_attribute(target, me)
            if attribute is None or found.get(attribute) == () or not is_container_value(value, scan.imports):
                continue
            sources: set[str] = set()
            held = [(scan, e) for e in _held(value)] + fills.get(attribute, [])
            if any(_may_hold(e, owner, set(), sources) for owner, e in held):
                found[attribute] = ()
            else:
                found[attribute] = tuple(sorted(sources | set(found.get(attribute, (RUNTIME_ONLY,)))))
    return found
