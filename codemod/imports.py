"""Per-file import table: resolves a dotted name as written to the qualified name it refers to.

Names are resolved only through the file's real imports and its own class definitions, never by
guessing from spelling: ``nn.Module`` means ``torch.nn.Module`` only when the file imported ``nn``
from torch. Built from :mod:`ast` because the table is needed for every file in the cheap stage.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from .astnodes import children
from .spans import statement_lines


@dataclass(frozen=True)
class ImportBlock:
    """The imports at the top of the module as libcst's ``AddImportsVisitor`` finds them, from ``ast``:
    a new ``import torch`` goes after ``last_import``, else after ``lead``, else before the first
    statement. ``lead`` is a first statement libcst keeps above the imports: ``__strict__ = ...`` or a
    docstring. Whether a leading string is one literal (a docstring) or several (``"a" "b"``, which
    libcst does not count) only the text tells, so when ``lead_is_string`` the writer checks it: a
    string that is no docstring is no import either, and the block is then empty."""

    first_line: int = 0  # of the first statement, decorators included; 0 when there is none
    lead: tuple[int, int] | None = None
    lead_is_string: bool = False
    last_import: int = 0  # the last line of the imports that follow ``lead``; 0 when there are none
    torch_imported: bool = False  # a plain ``import torch`` is among them: AddImportsVisitor adds nothing


def import_block(body: list[ast.stmt]) -> ImportBlock:
    """The top import block of a module: its leading statements that import, each alone on its lines
    (libcst's one-statement line), after a leading docstring or ``__strict__`` flag."""
    if not body:
        return ImportBlock()
    first = body[0]
    is_string = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                 and isinstance(first.value.value, (str, bytes)))
    is_strict = (isinstance(first, ast.Assign) and len(first.targets) == 1 and isinstance(first.targets[0], ast.Name)
                 and first.targets[0].id == "__strict__")
    lead = statement_lines(first) if (is_string or is_strict) and _alone(body, 0) else None
    last, torch = 0, False
    for index in range(1 if lead else 0, len(body)):
        statement = body[index]
        if not isinstance(statement, (ast.Import, ast.ImportFrom)) or not _alone(body, index):
            break
        last = statement_lines(statement)[1]
        torch |= isinstance(statement, ast.Import) and any(a.name == "torch" and a.asname is None
                                                            for a in statement.names)
    return ImportBlock(first_line=statement_lines(first)[0], lead=lead, lead_is_string=lead is not None and is_string,
                       last_import=last, torch_imported=torch)


def _alone(body: list[ast.stmt], index: int) -> bool:
    """No other statement shares the lines of ``body[index]`` (``import os; import sys`` is one libcst
    line of two statements)."""
    first, last = statement_lines(body[index])
    before = statement_lines(body[index - 1])[1] if index else 0
    after = statement_lines(body[index + 1])[0] if index + 1 < len(body) else last + 1
    return before < first and last < after


@dataclass
class ImportTable:
    """Maps each locally bound name to the fully qualified name it stands for.

    ``shadowed`` holds names the scope binds to something else (a ``def``, an assignment, a loop
    variable): they resolve to nothing, and they are not builtins either.
    """

    module: str
    bindings: dict[str, str] = field(default_factory=dict)
    star_sources: list[str] = field(default_factory=list)  # modules imported with ``from m import *``
    shadowed: frozenset[str] = frozenset()
    is_package: bool = False
    block: ImportBlock = ImportBlock()  # where a new ``import torch`` goes

    def is_bound(self, name: str) -> bool:
        """Does the scope bind ``name`` at all (so it is not a builtin)?"""
        return name in self.bindings or name in self.shadowed

    def overlay(self, local: dict[str, str | None]) -> ImportTable:
        """The table seen inside a function: its own imports and aliases replace module bindings, and
        any other local binding hides them (``local`` maps a name to its target, or None)."""
        if not local:
            return self
        bindings = {k: v for k, v in self.bindings.items() if k not in local}
        bindings.update({k: v for k, v in local.items() if v is not None})
        shadowed = self.shadowed | {k for k, v in local.items() if v is None}
        return ImportTable(self.module, bindings, self.star_sources, frozenset(shadowed), self.is_package)

    def resolve(self, dotted: str | None) -> str | None:
        """Qualified name for a dotted expression such as ``nn.Linear``; None when unknown."""
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        target = self.bindings.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def spelling_for(self, qualified: str) -> str | None:
        """Shortest way the file can already write ``qualified`` (for example ``nn.Parameter``)."""
        best: str | None = None
        for local, target in self.bindings.items():
            if qualified == target:
                candidate = local
            elif qualified.startswith(target + "."):
                candidate = local + qualified[len(target) :]
            else:
                continue
            if best is None or len(candidate) < len(best):
                best = candidate
        return best


def module_name_for(path_parts: tuple[str, ...], is_package_init: bool) -> str:
    """Dotted module name from path parts below the package root (``pkg/net.py`` -> ``pkg.net``)."""
    parts = list(path_parts)
    parts[-1] = parts[-1].removesuffix(".py")
    if is_package_init:
        parts = parts[:-1]
    return ".".join(parts)


def _absolute_from(module: str, is_package_init: bool, level: int, target: str | None) -> str | None:
    """Resolve ``from ..x import y`` against the importing module's own package."""
    if level == 0:
        return target
    package_parts = module.split(".") if is_package_init else module.split(".")[:-1]
    if level - 1 > len(package_parts):
        return None
    base = package_parts[: len(package_parts) - (level - 1)]
    if target:
        base = base + target.split(".")
    return ".".join(base) if base else None


def _bound_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _bound_names(element)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


# name, what it stands for (None: not an import or alias), a fallback (in an ``except``, or a stub on
# the other branch of an ``if`` that imports the name)
Binding = tuple[str, str | None, bool]


class _ScopeBindings(ast.NodeVisitor):
    """Every binding one scope makes, in source order, without entering nested scopes."""

    def __init__(self, module: str, is_package: bool, own_names: bool) -> None:
        self.module, self.is_package, self.own_names = module, is_package, own_names
        self.events: list[Binding] = []
        self.star_sources: list[str] = []
        self.handlers = 0
        self.resolved: dict[str, str] = {}
        self.imports: set[int] = set()  # indexes of the events that import statements made

    def bind(self, name: str, target: str | None, imported: bool = False) -> None:
        if imported:
            self.imports.add(len(self.events))
        self.events.append((name, target, self.handlers > 0))
        if target is None:
            self.resolved.pop(name, None)
        else:
            self.resolved[name] = target

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.bind(alias.asname, alias.name, imported=True)
            else:
                head = alias.name.split(".")[0]
                self.bind(head, head, imported=True)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute_from(self.module, self.is_package, node.level, node.module)
        if source is None:
            return
        for alias in node.names:
            if alias.name == "*":  # the names are unknown here; the class index follows the module
                self.star_sources.append(source)
            else:
                self.bind(alias.asname or alias.name, f"{source}.{alias.name}", imported=True)

    def _define(self, name: str) -> None:
        own = f"{self.module}.{name}" if self.module else name
        self.bind(name, own if self.own_names else None)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._define(node.name)

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        return

    def _comprehension(self, node: ast.AST) -> None:
        return  # comprehension variables live in their own scope

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        alias = self.alias(node.value)
        for target in node.targets:
            for name in _bound_names(target):
                self.bind(name, alias if isinstance(target, ast.Name) else None)

    def alias(self, value: ast.expr) -> str | None:
        """``zeros = torch.zeros``: an alias of something the scope already resolves; ``init =
        getattr(torch.nn.init, name)`` is some function of ``torch.nn.init`` (``<getattr>``)."""
        if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "getattr"
                and value.args and value.func.id not in self.resolved):
            owner = self.alias(value.args[0])
            return f"{owner}.<getattr>" if owner == "torch.nn.init" else None
        dotted = dotted_name(value)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        target = self.resolved.get(head)
        return None if target is None else (f"{target}.{rest}" if rest else target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            for name in _bound_names(node.target):
                self.bind(name, self.alias(node.value))

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        for name in _bound_names(node.target):
            self.bind(name, None)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.bind(node.target.id, None)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        for name in _bound_names(node.target):
            self.bind(name, None)
        for statement in node.body + node.orelse:
            self.visit(statement)

    visit_AsyncFor = visit_For  # type: ignore[assignment]

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            for name in _bound_names(node.optional_vars):
                self.bind(name, None)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.handlers += 1
        if node.name:
            self.bind(node.name, None)
        for statement in node.body:
            self.visit(statement)
        self.handlers -= 1

    def visit_If(self, node: ast.If) -> None:
        """``if has_torch: import torch.nn as nn`` / ``else: nn = _Stub``: an optional dependency. The
        branch that imports is the one where the module's classes are modules at all (without torch,
        nnreg has nothing to fix), so a stub bound on the other branch yields to it, like an ``except``
        fallback."""
        self.visit(node.test)
        start = len(self.events)
        for statement in node.body:
            self.visit(statement)
        middle = len(self.events)
        for statement in node.orelse:
            self.visit(statement)
        branches = (range(start, middle), range(middle, len(self.events)))
        for here, there in (branches, branches[::-1]):
            imported = {self.events[i][0]: self.events[i][1] for i in there if i in self.imports}
            imported_here = {self.events[i][0] for i in here if i in self.imports}
            for i in here:
                name, target, _ = self.events[i]
                if name in imported and name not in imported_here:
                    self.events[i] = (name, target, True)
                    self.resolved[name] = imported[name]  # type: ignore[assignment]

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self.bind(name, None)

    visit_Nonlocal = visit_Global  # type: ignore[assignment]

    def final(self) -> tuple[dict[str, str], frozenset[str]]:
        """What each name stands for once the scope has run: the last binding in source order. A
        fallback in an ``except`` handler (``except ImportError: torch = None``) yields to the bindings
        of the normal path; names whose last binding is not an import or alias are shadowed."""
        normal = {name for name, _, in_handler in self.events if not in_handler}
        last: dict[str, str | None] = {}
        for name, target, in_handler in self.events:
            if in_handler and name in normal:
                continue
            last[name] = target
        bindings = {name: target for name, target in last.items() if target is not None}
        return bindings, frozenset(name for name, target in last.items() if target is None)


def build_import_table(tree: ast.Module, module: str, is_package_init: bool) -> ImportTable:
    """What each name means at module scope once the module has run (Python's scoping, in source
    order): imports, aliases of imported names, and the file's own classes and functions; imports
    inside functions stay in those functions (see :func:`local_bindings`)."""
    scope = _ScopeBindings(module, is_package_init, own_names=True)
    for statement in tree.body:
        scope.visit(statement)
    bindings, shadowed = scope.final()
    return ImportTable(module=module, bindings=bindings, star_sources=scope.star_sources, shadowed=shadowed,
                       is_package=is_package_init, block=import_block(tree.body))


def local_bindings(function: ast.FunctionDef | ast.AsyncFunctionDef, table: ImportTable) -> dict[str, str | None]:
    """Names a function binds itself: its imports and aliases (by target) and every other local (None).

    A function's locals are decided for the whole body, so a name bound anywhere in it hides the
    module's binding everywhere in it; an import or alias of the function wins over the module's.
    One walk of the function's own scope (nested functions, classes, lambdas and comprehensions have
    scopes of their own and are not entered)."""
    scope = _ScopeBindings(table.module, table.is_package, own_names=False)
    scope.resolved = dict(table.bindings)
    arguments = function.args
    for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]:
        if arg is not None:
            scope.bind(arg.arg, None)
    declared_global: set[str] = set()
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            scope.bind(node.name, None)
            pending.extend(node.decorator_list)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            scope.visit(node)
        elif isinstance(node, ast.Assign):
            alias = scope.alias(node.value)
            for target in node.targets:
                for name in _bound_names(target):
                    scope.bind(name, alias if isinstance(target, ast.Name) else None)
            pending.append(node.value)
        elif isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                scope.bind(node.id, None)
        elif not isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if isinstance(node, ast.ExceptHandler) and node.name:
                scope.bind(node.name, None)
            pending.extend(children(node))
    targets: dict[str, set[str | None]] = {}
    for name, target, _ in scope.events:
        if name not in declared_global:
            targets.setdefault(name, set()).add(target)
    local = {name: next(iter(found)) if len(found) == 1 else None for name, found in targets.items()}
    return {name: target for name, target in local.items() if target is not None or table.is_bound(name)}


_BINDING = frozenset({ast.Import, ast.ImportFrom, ast.Name, ast.arg, ast.FunctionDef, ast.AsyncFunctionDef,
                      ast.ClassDef, ast.ExceptHandler, ast.Assign, ast.AnnAssign})


def may_bind_locally(nodes: list[ast.AST], table: ImportTable) -> bool:
    """Can :func:`local_bindings` of the function whose nodes (``astnodes.walk``) these are give
    anything? Only an import, an alias of a name the module binds, or a local that hides one can: a
    method with none of them is the common case, and this test costs a fraction of that walk."""
    for node in nodes:
        if type(node) not in _BINDING:  # most nodes: one set lookup instead of six isinstance tests
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load) and table.is_bound(node.id):
                return True
        elif isinstance(node, ast.arg):
            if table.is_bound(node.arg):
                return True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)):
            if node.name and table.is_bound(node.name):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            value = node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "getattr":
                value = value.args[0] if value.args else value
            head = (dotted_name(value) or "").partition(".")[0]
            if head in table.bindings:
                return True
    return False


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None
