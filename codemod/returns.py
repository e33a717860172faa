"""What the scanned tree's own functions and methods return: a tensor, or nothing nnreg can vouch for.

``self.win = _gauss_kernel(n)`` and ``self.grid = self._make_grid(h, w)`` are the most common shape
of a real unregistered tensor, so the cheap stage types every function of every file once, with
:mod:`ast`: a return annotation of ``torch.Tensor`` settles it; otherwise every ``return`` must give
a tensor by the same certain facts the classifier uses (a torch function the typed table says
returns one tensor, a tensor method, arithmetic or indexing on a tensor, a local or argument that
holds one). A return that calls another function of the tree makes the answer depend on that one:
the class index resolves those dependencies across files to a fixed point (a cycle is not a tensor).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property

from .astnodes import own_nodes, own_statements
from .imports import ImportTable, dotted_name
from .torch_facts import INPUT_TYPED_FUNCTIONS, TENSOR_ONLY_METHODS, TENSOR_TYPES, function_gives, method_gives

_NOT_TREE = ("torch.", "numpy.", "math.", "builtins.", "typing.", "functools.", "itertools.", "collections.")


@dataclass(frozen=True)
class ReturnFact:
    """A function returns a tensor when every name in ``needs`` (tree functions, or ``self.method``
    for methods of the same class) does too; ``source`` says why, for reasons."""

    needs: tuple[str, ...] = ()
    source: str = ""


def tree_callee(call: ast.Call, imports: ImportTable, me: str | None) -> str | None:
    """The tree function a call may reach: ``self.m`` for a method of the same object, else the
    qualified name of a function that is not torch's or the standard library's."""
    func = call.func
    if me is not None and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == me:
        return f"self.{func.attr}"
    qualified = imports.resolve(dotted_name(func))
    if qualified is None or qualified.startswith(_NOT_TREE) or "." not in qualified:
        return None
    if qualified.rsplit(".", 1)[-1][:1].isupper():
        return None  # a class (CapWords by PEP 8): calling it builds an instance, not a tensor
    return qualified


class _Body:
    """Tensor facts inside one function: its arguments and the values assigned to its locals."""

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef, nodes: list[ast.AST] | None,
                 first_return: int, imports: ImportTable, me: str | None) -> None:
        self.imports, self.me = imports, me
        arguments = function.args
        named = arguments.posonlyargs + arguments.args + arguments.kwonlyargs
        self.arguments = {a.arg for a in named} | {a.arg for a in (arguments.vararg, arguments.kwarg) if a}
        self.tensor_args = {a.arg for a in named
                            if a.annotation is not None and _is_tensor_annotation(a.annotation, imports)}
        self.function, self.given = function, nodes
        # Values a later top-level assignment overwrites before the first ``return`` never reach it
        # (``emb = math.log(n); emb = torch.exp(...)``), nor does an argument so replaced.
        self.overwritten = _last_overwrites(function, first_return)
        self.rebound = set(self.overwritten) & self.arguments
        self.visiting: set[str] = set()

    @cached_property
    def nodes(self) -> list[ast.AST]:
        """The function's ``own_nodes``: walked only when a return names a local or all returns are
        tensors (most functions are settled from their return statements alone)."""
        return own_nodes(self.function) if self.given is None else self.given

    @cached_property
    def assigned(self) -> dict[str, list[ast.expr | None]]:
        """The values each local is assigned, less those overwritten before the first ``return``. Read
        only when a return mentions a local: most functions return arguments, calls or constants."""
        bindings: dict[str, list[tuple[int, ast.expr | None]]] = {}
        for node in self.nodes:
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    _bind(bindings, line, target, node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                _bind(bindings, line, node.target, node.value)
            elif isinstance(node, ast.AugAssign):  # ``k /= k.sum()``: arithmetic keeps a tensor a tensor
                _bind(bindings, line, node.target, ast.BinOp(left=node.target, op=node.op, right=node.value))
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.withitem, ast.NamedExpr)):
                target = node.target if not isinstance(node, ast.withitem) else node.optional_vars
                if target is not None:
                    _bind(bindings, line, target, None)
        return {name: [value for line, value in values if line >= self.overwritten.get(name, 0)]
                for name, values in bindings.items()}

    def tensor(self, node: ast.expr, needs: set[str]) -> bool:
        """Is ``node`` certainly a tensor, given that the tree callees added to ``needs`` are?"""
        if isinstance(node, ast.Call):
            return self._call(node, needs)
        if isinstance(node, ast.Name):
            if node.id in self.visiting:
                return True  # ``x = x.unsqueeze(0)``: as much a tensor as x's other values say
            if node.id in self.arguments and node.id not in self.tensor_args and node.id not in self.rebound:
                return False
            values = self.assigned.get(node.id)
            if node.id in self.tensor_args and not values:
                return True
            if not values or any(v is None for v in values):
                return False
            self.visiting.add(node.id)
            try:
                return all(self.tensor(v, needs) for v in values)  # type: ignore[arg-type]
            finally:
                self.visiting.discard(node.id)
        if isinstance(node, ast.Subscript):
            return self.tensor(node.value, needs)
        if isinstance(node, ast.Attribute):
            return node.attr in ("T", "mT", "data") and self.tensor(node.value, needs)
        if isinstance(node, ast.BinOp):
            return self.tensor(node.left, needs) or self.tensor(node.right, needs)
        if isinstance(node, ast.UnaryOp):
            return not isinstance(node.op, ast.Not) and self.tensor(node.operand, needs)
        if isinstance(node, ast.IfExp):
            return self.tensor(node.body, needs) and self.tensor(node.orelse, needs)
        return False

    def _call(self, call: ast.Call, needs: set[str]) -> bool:
        qualified = self.imports.resolve(dotted_name(call.func))
        if qualified is not None and qualified.startswith("torch."):
            return function_gives(qualified, len(call.args), bool(call.keywords)) == "tensor"
        if qualified in INPUT_TYPED_FUNCTIONS:
            return bool(call.args) and self.tensor(call.args[0], needs)
        callee = tree_callee(call, self.imports, self.me)
        if callee is not None:
            needs.add(callee)
            return True
        if isinstance(call.func, ast.Name) and call.func.id in self.nested:
            fact = return_fact(self.nested[call.func.id], self.imports, self.me)
            needs.update(fact.needs if fact else ())
            return fact is not None
        if isinstance(call.func, ast.Attribute) and (call.func.attr in TENSOR_ONLY_METHODS
                                                     or self.tensor(call.func.value, needs)):
            return method_gives(call.func.attr, bool(call.args or call.keywords)) == "tensor"
        return False

    @cached_property
    def nested(self) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
        """Functions defined in this one's body (``def _gaussian(n, sigma): ...`` inside a window
        builder): a call of one returns what its own returns give."""
        return {node.name: node for node in self.function.body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.decorator_list}


def _is_tensor_annotation(annotation: ast.expr, imports: ImportTable) -> bool:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    return imports.resolve(dotted_name(annotation)) in TENSOR_TYPES


def _bind(bindings: dict[str, list[tuple[int, ast.expr | None]]], line: int, target: ast.expr,
          value: ast.expr | None) -> None:
    if isinstance(target, ast.Name):
        bindings.setdefault(target.id, []).append((line, value))
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            _bind(bindings, line, element, None)


def _last_overwrites(function: ast.FunctionDef | ast.AsyncFunctionDef, first: int) -> dict[str, int]:
    """For each name, the line of the last top-level assignment to it before the first ``return`` (on
    line ``first``): from there on, what was bound earlier (or passed as an argument) is gone on every
    path."""
    lines: dict[str, int] = {}
    for statement in function.body:
        if isinstance(statement, ast.Assign) and statement.lineno < first:
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    lines[target.id] = statement.lineno
    return lines


def return_fact(function: ast.FunctionDef | ast.AsyncFunctionDef, imports: ImportTable, me: str | None = None,
                nodes: list[ast.AST] | None = None, statements: list[ast.stmt] | None = None) -> ReturnFact | None:
    """How ``function`` returns a tensor, or None when nothing says it always does. ``nodes`` (its
    ``astnodes.own_nodes``) or ``statements`` (its ``astnodes.own_statements``) are passed when the
    caller has them already."""
    if function.returns is not None:
        if _is_tensor_annotation(function.returns, imports):
            return ReturnFact(source=f"{function.name}() is annotated to return a tensor")
        return None
    found = nodes if nodes is not None else statements if statements is not None else own_statements(function)
    returns = [n for n in found if isinstance(n, ast.Return)]
    if not returns or any(r.value is None for r in returns):
        return None
    body = _Body(function, nodes, min(r.lineno for r in returns), imports, me)
    needs: set[str] = set()
    if not all(body.tensor(r.value, needs) for r in returns):  # type: ignore[arg-type]
        return None
    if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in body.nodes):
        return None  # a generator: what its returns give is not what a call gives
    return ReturnFact(needs=tuple(sorted(needs)), source=f"{function.name}() returns a tensor")


def constructors_returned(statements: list[ast.stmt], imports: ImportTable) -> tuple[str, ...] | None:
    """The classes a factory function builds and returns: every ``return`` of its ``own_statements`` is a
    call of a class by its resolved name (``return HeteroLayer(...)``). Whether those are module classes
    is the class index's answer (NR101 reads it: ``self.layers = [make_layer(d) for ...]``)."""
    returns = [n for n in statements if isinstance(n, ast.Return)]
    built = []
    for node in returns:
        value = node.value
        qualified = imports.resolve(dotted_name(value.func)) if isinstance(value, ast.Call) else None
        if qualified is None or not qualified.rsplit(".", 1)[-1][:1].isupper():
            return None
        built.append(qualified)
    return tuple(sorted(set(built))) or None
