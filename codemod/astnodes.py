"""Fast walks over :mod:`ast` trees, for the cheap stage.

The cheap stage walks every method of every file, and its cost is mostly the walking: ``ast.walk``
makes a generator per node and visits the ``ctx`` marker (``Load``/``Store``/``Del``) under every
name, attribute and subscript and the operator marker of every operation, a third of all nodes,
which carry no fact nnreg reads (their parents do). These walks read each node type's child fields
once, skip those markers and fields that only ever hold plain values, and visit the other nodes in
the same order as ``ast.walk`` / ``ast.iter_child_nodes``, so callers keep their results.
"""

from __future__ import annotations

import ast

_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


_MARKERS = frozenset({"ctx", "op", "ops"})
_PLAIN = frozenset({"id", "attr", "arg", "name", "kind", "type_comment", "level", "module", "conversion",
                    "simple", "is_async", "tag"})  # always str, int or None, in every node type


def _child_fields(kind: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        names = () if kind is ast.Constant else kind._fields  # type: ignore[attr-defined]
        fields = _CHILD_FIELDS[kind] = tuple(name for name in names if name not in _MARKERS | _PLAIN)
    return fields


def add_children(node: ast.AST, found: list[ast.AST]) -> None:
    """Append the child nodes of ``node`` to ``found`` in field order, as ``ast.iter_child_nodes``
    gives them, less markers: the one loop every walk here shares."""
    for name in _child_fields(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            found.append(value)
        elif isinstance(value, list):
            found.extend(item for item in value if isinstance(item, ast.AST))


def children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of ``node`` (see ``add_children``)."""
    found: list[ast.AST] = []
    add_children(node, found)
    return found


def walk(root: ast.AST) -> list[ast.AST]:
    """``root`` and every node below it, breadth first as ``ast.walk`` visits them, less markers."""
    found = [root]
    for node in found:  # the list grows while it is read: a queue without a deque
        add_children(node, found)
    return found


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
Function = ast.FunctionDef | ast.AsyncFunctionDef


def own_nodes(function: Function) -> list[ast.AST]:
    """Nodes of the function's own body: not those inside functions, lambdas or classes nested in it
    (the nested definitions themselves are included)."""
    return _own_and_nested(function)[0]


def nested_statements(node: ast.stmt) -> list[ast.stmt]:
    """Statements in the blocks of a compound statement (``if``/``try``/``with``/loops/``match``) in
    source order: classes defined there are module classes too."""
    blocks: list[list[ast.stmt]] = [getattr(node, "body", None) or []]
    blocks += [handler.body for handler in getattr(node, "handlers", [])]
    blocks += [case.body for case in getattr(node, "cases", [])]
    blocks += [getattr(node, "orelse", None) or [], getattr(node, "finalbody", None) or []]
    return [statement for block in blocks if isinstance(block, list) for statement in block]


def own_statements(function: Function) -> list[ast.stmt]:
    """The statements of the function's own body, nested blocks included, in source order: not those
    inside functions or classes defined in it (the definitions themselves are included). ``return``
    is a statement, so its returns are among them; walking statements skips every expression."""
    found: list[ast.stmt] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            found.append(node)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(nested_statements(node))

    visit(function.body)
    return found


def function_nodes(function: Function) -> tuple[list[ast.AST], list[ast.AST]]:
    """Every node of ``function`` (the set ``walk`` gives, header included) and its ``own_nodes``,
    from one walk: the cheap stage needs both for every method."""
    own, nested = _own_and_nested(function)
    everything: list[ast.AST] = [function, *own]
    for scope in nested:
        everything.extend(walk(scope)[1:])
    for name in _child_fields(type(function)):
        if name != "body":
            value = getattr(function, name, None)
            for part in value if isinstance(value, list) else [value]:
                if isinstance(part, ast.AST):
                    everything.extend(walk(part))
    return everything, own


def _own_and_nested(function: Function) -> tuple[list[ast.AST], list[ast.AST]]:
    own: list[ast.AST] = []
    nested: list[ast.AST] = []
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        own.append(node)
        if isinstance(node, _SCOPES):
            nested.append(node)
        else:
            add_children(node, pending)
    return own, nested
