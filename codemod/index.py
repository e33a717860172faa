"""The tree-wide class index: the cheap stage that cross-file inheritance needs.

Every file is summarised with :mod:`ast` (about ten times cheaper than libcst): its import table and,
for each class, its resolved bases, the names its body defines and the names its methods register.
Module-class resolution and "registered by a base class" questions are answered from here, so the
libcst stage only ever parses files that can hold a finding. Modules that the scanned paths import
but do not include (``from .base import Base`` when only ``net.py`` was named) are loaded lazily.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .astnodes import function_nodes, nested_statements, own_statements, walk
from .files import SourceError, read_source
from .imports import (ImportBlock, ImportTable, build_import_table, dotted_name, local_bindings, may_bind_locally,
                      module_name_for)
from .notebooks import is_notebook
from .notebooks import module_name as notebook_module
from .prefilter import MethodScan, container_attributes, may_hold_tensor, scan_method
from .returns import ReturnFact, constructors_returned, return_fact
from .spans import statement_lines
from .torch_facts import (BUFFER_FACTORIES, LAYER_TENSORS, MODULE_ONLY_METHODS, PARAMETER_FACTORIES, TENSOR_ONLY_METHODS,
                          is_module_constructor, torch_layer)

KNOWN_MODULE_BASES = (
    "lightning.pytorch.LightningModule",
    "lightning.LightningModule",
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
    "transformers.PreTrainedModel",
    "transformers.modeling_utils.PreTrainedModel",
)
# Names under torch.nn that are not module classes.
_NOT_MODULES = ("torch.nn.Parameter", "torch.nn.Buffer", "torch.nn.parameter.", "torch.nn.init.",
                "torch.nn.functional.", "torch.nn.utils.")
DEVICE_MANAGING_METHODS = frozenset({"_apply", "to", "cuda", "__setattr__"})
# Bases whose kind is known without the tree's word: torch's own (``torch_facts``) and the standard library's.
_NOT_INFERRED = ("torch.", "abc.", "typing.", "typing_extensions.", "collections.", "enum.", "builtins.",
                 "dataclasses.", "threading.", "contextlib.")


def moves_own_tensors(method: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Does this ``to``/``cuda``/``_apply`` override move tensors itself? One that only records the
    device and delegates to ``super()`` moves nothing: its class still needs registered tensors.
    Overriding ``__setattr__`` always counts (SPEC 2)."""
    if method.name == "__setattr__":
        return True
    positional = method.args.posonlyargs + method.args.args
    me = positional[0].arg if positional else None
    for node in walk(method):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "super" or (
                isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "super"):
            continue
        parts = [func, *node.args, *(k.value for k in node.keywords)]
        if any(isinstance(n, ast.Name) and n.id == me for part in parts for n in walk(part)):
            return True
    return False


@dataclass
class ClassSummary:
    """What the rest of the tree needs to know about one class."""

    module: str
    qualname: str
    line: int
    # first and last line of each top-level statement that defines it (several when defined more than
    # once): the spans stage 2 parses for it (``codemod/spans.py``)
    statements: tuple[tuple[int, int], ...]
    bases: tuple[str | None, ...]
    members: frozenset[str]
    parameters: frozenset[str]
    buffers: frozenset[str]
    may_hold_tensor: bool = True
    reads: frozenset[str] = frozenset()  # ``self.X`` loaded by methods other than ``__init__``
    moves_own_tensors: bool = False  # overrides ``to``/``cuda``/``_apply`` to move tensors, or ``__setattr__``
    # per method: names it binds itself that change what module names mean (imports, aliases, shadows)
    local_bindings: dict[str, dict[str, str | None]] = field(default_factory=dict)
    tree_calls: frozenset[str] = frozenset()  # functions of the tree its methods call (``self.m``: methods)
    # tree functions whose returns decide whether it can hold a tensor at all (see ``may_hold_tensor``)
    tensor_sources: frozenset[str] = frozenset()
    # methods its ``__init__`` calls on self, transitively: a subclass's override of one runs at construction
    init_calls: frozenset[str] = frozenset()
    # ``self.X`` assigned a plain list, tuple or dict that may hold modules or tensors (NR101/NR102), and
    # the tree functions whose returns decide it (none: it may whatever they return)
    containers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    touches: frozenset[str] = frozenset()  # every ``self.X`` its methods load or assign (a subclass's uses count)
    calls_module_api: bool = False  # calls a method only nn.Module has on self (``self.register_buffer(...)``)

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.qualname}" if self.module else self.qualname


@dataclass
class FileSummary:
    path: Path
    module: str
    imports: ImportTable
    sha: str = ""
    classes: dict[str, ClassSummary] = field(default_factory=dict)
    functions: dict[str, ReturnFact] = field(default_factory=dict)  # by qualname (``Class.method``)
    factories: dict[str, tuple[str, ...]] = field(default_factory=dict)  # module-level function -> classes it returns

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "module": self.module, "sha": self.sha,
                "bindings": self.imports.bindings, "star_sources": self.imports.star_sources,
                "shadowed": sorted(self.imports.shadowed), "is_package": self.imports.is_package,
                "block": asdict(self.imports.block),
                "classes": [{**asdict(c), "members": sorted(c.members), "parameters": sorted(c.parameters),
                             "buffers": sorted(c.buffers), "reads": sorted(c.reads), "tree_calls": sorted(c.tree_calls),
                "tensor_sources": sorted(c.tensor_sources), "init_calls": sorted(c.init_calls),
                "containers": {name: list(sources) for name, sources in sorted(c.containers.items())},
                "touches": sorted(c.touches)}
                            for c in self.classes.values()],
                "functions": {name: [list(f.needs), f.source] for name, f in self.functions.items()},
                "factories": {name: list(built) for name, built in self.factories.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileSummary:
        imports = ImportTable(module=data["module"], bindings=data["bindings"], star_sources=data["star_sources"],
                              shadowed=frozenset(data["shadowed"]), is_package=data["is_package"],
                              block=_import_block(data["block"]))
        classes = {c["qualname"]: ClassSummary(**{**c, "bases": tuple(c["bases"]), "members": frozenset(c["members"]),
                                                  "statements": tuple(tuple(lines) for lines in c["statements"]),
                                                  "parameters": frozenset(c["parameters"]),
                                                  "buffers": frozenset(c["buffers"]), "reads": frozenset(c["reads"]),
                                                  "tree_calls": frozenset(c["tree_calls"]),
                                                  "tensor_sources": frozenset(c["tensor_sources"]),
                                                  "init_calls": frozenset(c["init_calls"]),
                                                  "containers": {name: tuple(sources) for name, sources
                                                                 in c["containers"].items()},
                                                  "touches": frozenset(c["touches"])})
                   for c in data["classes"]}
        functions = {name: ReturnFact(tuple(needs), source) for name, (needs, source) in data["functions"].items()}
        return cls(path=Path(data["path"]), module=data["module"], imports=imports, sha=data["sha"], classes=classes,
                   functions=functions, factories={name: tuple(built) for name, built in data["factories"].items()})


def _import_block(data: dict[str, Any]) -> ImportBlock:
    """The block from its JSON form (where the lead's lines are a list)."""
    lead = data["lead"]
    return ImportBlock(**{**data, "lead": tuple(lead) if lead else None})


NAMESPACE_DEPTH = 4  # folders above a package root searched for namespace packages


def package_root(path: Path) -> Path:
    """The directory above the outermost package that contains ``path``. A folder without
    ``__init__.py`` inside a regular package is a namespace subpackage of it (PEP 420:
    ``pkg/models/unit/net.py`` is ``pkg.models.unit.net`` and may import ``from ...base``), so the
    walk goes on while the folder or its parent is a package."""
    root = path.parent
    while ((root / "__init__.py").is_file() or (root.parent / "__init__.py").is_file()) and root.parent != root:
        root = root.parent
    return root


def module_of(path: Path) -> tuple[str, Path]:
    """The dotted module name of a file and the folder its imports are resolved from; a notebook goes
    by its path (see ``notebooks.module_name``)."""
    path = path.absolute()
    root = package_root(path)
    if is_notebook(path):
        return notebook_module(path), root
    parts = path.relative_to(root).parts
    return module_name_for(parts, path.name == "__init__.py"), root


def _registered_names(scan: MethodScan, imports: ImportTable) -> tuple[set[str], set[str]]:
    """Names a method registers as parameters and as buffers (framework states count as buffers)."""
    params: set[str] = set()
    buffers: set[str] = set()
    for call in scan.self_calls:
        first = call.args[0] if call.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            if call.func.attr == "register_parameter":  # type: ignore[attr-defined]
                params.add(first.value)
            elif call.func.attr in ("register_buffer", "add_state"):  # type: ignore[attr-defined]
                buffers.add(first.value)
    for _method, me, target, value in scan.assignments:
        while (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
               and isinstance(value.func.value, ast.Call) and value.func.attr.endswith("_")):
            value = value.func.value  # ``nn.Parameter(t).uniform_(-1, 1)``: in-place methods return the same object
        if (isinstance(value, ast.Call) and isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == me):
            made = imports.resolve(dotted_name(value.func))
            if made in PARAMETER_FACTORIES:
                params.add(target.attr)
            elif made in BUFFER_FACTORIES:
                buffers.add(target.attr)
    return params, buffers


def _summarise_class(node: ast.ClassDef, qualname: str, imports: ImportTable, functions: dict[str, ReturnFact],
                     statements: tuple[tuple[int, int], ...]) -> ClassSummary:
    """The class's summary; how its methods return tensors goes into ``functions`` (``Class.method``)."""
    members: set[str] = set()
    params: set[str] = set()
    buffers: set[str] = set()
    scans: list[MethodScan] = []
    reads: set[str] = set()
    tree_calls: set[str] = set()
    locals_: dict[str, dict[str, str | None]] = {}
    moves = False
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            members.add(item.name)
            moves |= item.name in DEVICE_MANAGING_METHODS and moves_own_tensors(item)
            everything, own = function_nodes(item)
            local = local_bindings(item, imports) if may_bind_locally(everything, imports) else {}
            if local:
                locals_[item.name] = local
            scan = scan_method(item, imports.overlay(local), everything)
            if scan is not None:
                me = None if "staticmethod" in {dotted_name(d) for d in item.decorator_list} else scan.me
                fact = return_fact(item, scan.imports, me, own) if "<locals>" not in qualname else None
                if fact is not None:
                    functions[f"{qualname}.{item.name}"] = fact
                scans.append(scan)
                tree_calls |= scan.tree_calls
                if item.name != "__init__":
                    reads |= scan.reads
                found_params, found_buffers = _registered_names(scan, scan.imports)
                params |= found_params
                buffers |= found_buffers
        elif isinstance(item, ast.ClassDef):
            members.add(item.name)
        elif isinstance(item, ast.Assign):
            members.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
            members.add(item.target.id)  # a bare ``x: Tensor`` annotation creates no class attribute
    bases = tuple(_resolve_base(base, imports) for base in node.bases)
    called = {scan.method.name: {call.func.attr for call in scan.self_calls} for scan in scans}  # type: ignore[attr-defined]
    holds, sources = may_hold_tensor(scans, LAYER_TENSORS if torch_layer(bases) else frozenset())
    containers = container_attributes(scans)
    return ClassSummary(module=imports.module, qualname=qualname, line=node.lineno, statements=statements, bases=bases,
                        members=frozenset(members), parameters=frozenset(params), buffers=frozenset(buffers),
                        may_hold_tensor=holds, tensor_sources=sources, reads=frozenset(reads),
                        local_bindings=locals_, tree_calls=frozenset(tree_calls), moves_own_tensors=moves,
                        init_calls=reachable_methods(called, "__init__") - {"__init__"},
                        containers=containers, calls_module_api=any(
                            call.func.attr in MODULE_ONLY_METHODS for scan in scans for call in scan.self_calls),  # type: ignore[attr-defined]
                        touches=frozenset(
                            {a for scan in scans for a in scan.reads} | {a for scan in scans for a, _ in scan.fills}
                            | {t.attr for scan in scans for _m, me, t, _v in scan.assignments
                               if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == me}))


def reachable_methods(calls: Mapping[str, Collection[str]], *roots: str) -> frozenset[str]:
    """The ``roots`` plus every method they call on self, transitively (names a class does not
    define are kept: a subclass may define them)."""
    reached: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        pending.extend(calls.get(name, ()))
    return frozenset(reached)


def _resolve_base(base: ast.expr, imports: ImportTable) -> str | None:
    if isinstance(base, ast.Subscript):  # Generic[T]-style bases
        base = base.value
    return imports.resolve(dotted_name(base))


def summarise(path: Path, tree: ast.Module, sha: str = "", star_names: dict[str, str] | None = None) -> FileSummary:
    """Summarise a parsed file: its import table and every class, nested ones by dotted qualname.

    ``star_names`` are the names its ``from m import *`` lines bring (worked out by the class index
    once every file is known); the file's own bindings win over them."""
    module, _ = module_of(path)
    imports = build_import_table(tree, module, path.name == "__init__.py")
    if star_names:
        imports.bindings = {**{k: v for k, v in star_names.items() if not imports.is_bound(k)}, **imports.bindings}
    summary = FileSummary(path=path, module=module, imports=imports, sha=sha)

    def visit(body: list[ast.stmt], prefix: str, in_class: bool = False, top: ast.stmt | None = None) -> None:
        """``top``: the top-level statement the body belongs to (None: the body is the module's)."""
        for node in body:
            statement = top or node
            if isinstance(node, ast.ClassDef):
                qualname = f"{prefix}{node.name}"
                lines = statement_lines(statement)
                earlier = summary.classes[qualname].statements if qualname in summary.classes else ()
                statements = earlier if lines in earlier else (*earlier, lines)
                summary.classes[qualname] = _summarise_class(node, qualname, imports, summary.functions, statements)
                visit(node.body, qualname + ".", True, statement)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not in_class and "<locals>" not in prefix:
                statements = own_statements(node)  # a module-level function: typed here
                fact = return_fact(node, imports, statements=statements)
                if fact is not None:
                    summary.functions[f"{prefix}{node.name}"] = fact
                built = constructors_returned(statements, imports) if not prefix else None
                if built:
                    summary.factories[node.name] = built
                definitions = [n for n in statements if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
                visit(definitions, f"{prefix}{node.name}.<locals>.", False, statement)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # methods are typed with their class
                visit(node.body, f"{prefix}{node.name}.<locals>.", False, statement)
            else:
                visit(nested_statements(node), prefix, in_class, statement)

    visit(tree.body, "")
    return summary


class ClassIndex:
    """Classes of the scanned tree, answering which are modules and what their bases register."""

    def __init__(self, extra_module_bases: tuple[str, ...] = ()) -> None:
        self.module_bases = frozenset(KNOWN_MODULE_BASES + tuple(extra_module_bases))
        self._files: dict[str, FileSummary | None] = {}
        self._roots: set[Path] = set()
        self._search: list[Path] | None = None
        self._is_module: dict[str, bool] = {}
        self._returns: dict[tuple[str, str], str | None] = {}
        self.inferred_module_bases: frozenset[str] = frozenset()  # see ``infer_module_bases``
        self.tensor_method_clashes: frozenset[str] = frozenset()  # see ``find_tensor_method_clashes``

    def add(self, summary: FileSummary) -> None:
        self._files[summary.module] = summary
        self._roots.add(module_of(summary.path)[1])
        self._search = None

    def _load(self, module: str) -> FileSummary | None:
        if module in self._files:
            return self._files[module]
        self._files[module] = None
        relative = Path(*module.split("."))
        for root in self._search_roots():
            for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
                if candidate.is_file():
                    try:
                        source = read_source(candidate)
                        tree = ast.parse(source.data)
                    except (SourceError, SyntaxError, ValueError):
                        return None
                    self._files[module] = summarise(candidate, tree, source.sha)
                    return self._files[module]
        return None

    def _search_roots(self) -> list[Path]:
        """Where absolute imports are looked for: each package root, then the folders above it, since a
        folder without ``__init__.py`` may be a namespace package (PEP 420) imported from higher up
        (``from pkg.sub.masks import f`` with no ``pkg/__init__.py``)."""
        if self._search is None:
            ordered = sorted(self._roots)
            above = sorted({parent for root in ordered for parent in list(root.parents)[:NAMESPACE_DEPTH]} - set(ordered))
            self._search = ordered + above
        return self._search

    def lookup(self, qualified: str) -> ClassSummary | None:
        """The class a qualified name refers to, following re-exports such as ``pkg/__init__.py``,
        including ``from .module import *`` chains."""
        found = self._find(qualified, lambda summary, rest: summary.classes.get(rest))
        return found[1] if found else None

    def _find(self, qualified: str, pick, _depth: int = 0):  # type: ignore[no-untyped-def]
        """``(file, item)`` for the first file that defines ``qualified`` as ``pick`` asks, or None."""
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            summary = self._load(".".join(parts[:cut]))
            if summary is None:
                continue
            rest = ".".join(parts[cut:])
            item = pick(summary, rest)
            if item is not None:
                return summary, item
            if _depth >= 8:
                return None
            target = summary.imports.resolve(rest)
            if target:
                return self._find(target, pick, _depth + 1) if target != qualified else None
            for source in summary.imports.star_sources:
                found = self._find(f"{source}.{rest}", pick, _depth + 1)
                if found is not None:
                    return found
            return None
        return None

    def builds_modules(self, qualified: str, _seen: frozenset[str] = frozenset()) -> bool:
        """Is ``qualified`` a module class of the tree, or a module-level factory function whose every
        ``return`` builds one (``def make_layer(d): return Block(d)``)? A cycle of factories builds nothing."""
        found = self.lookup(qualified)
        if found is not None:
            return self.is_module_class(found)
        built = self._find(qualified, lambda summary, rest: summary.factories.get(rest))
        seen = _seen | {qualified}
        return bool(built) and all(is_module_constructor(name) or (name not in seen and self.builds_modules(name, seen))
                                   for name in built[1])

    def call_returns_tensor(self, cls: ClassSummary | None, callee: str) -> str | None:
        """Why calling ``callee`` (a tree function, or ``self.m`` for a method of ``cls``'s instances)
        gives a tensor, or None. Dependencies are followed across files; a cycle gives None."""
        key = (cls.qualified if cls and callee.startswith("self.") else "", callee)  # only methods depend on the class
        if key in self._returns:
            return self._returns[key]
        self._returns[key] = None  # guards against recursion
        found = self._method_fact(cls, callee[len("self."):]) if callee.startswith("self.") else self._find(
            callee, lambda summary, rest: summary.functions.get(rest))
        answer = None
        if found is not None:
            fact = found[1]
            if all(self.call_returns_tensor(cls, need) for need in fact.needs):
                answer = fact.source
        self._returns[key] = answer
        return answer

    def _method_fact(self, cls: ClassSummary | None, name: str) -> tuple[FileSummary, ReturnFact] | None:
        """The return fact of ``name`` as looked up on an instance of ``cls`` (nearest class first)."""
        for owner in [cls, *self.ancestors(cls)] if cls else []:
            summary = self._files.get(owner.module)
            if summary is None:
                continue
            if name in owner.members:
                fact = summary.functions.get(f"{owner.qualname}.{name}")
                return (summary, fact) if fact is not None else None
        return None

    def ancestors(self, cls: ClassSummary) -> list[ClassSummary]:
        """Known base classes, nearest first, each once (cycles are cut)."""
        seen: set[str] = {cls.qualified}
        order: list[ClassSummary] = []
        pending = list(cls.bases)
        while pending:
            base = pending.pop(0)
            found = self.lookup(base) if base else None
            if found is None or found.qualified in seen:
                continue
            seen.add(found.qualified)
            order.append(found)
            pending.extend(found.bases)
        return order

    def star_names(self, summary: FileSummary, _depth: int = 0) -> dict[str, str]:
        """What the file's ``from m import *`` lines bind: the public names of each module, its own
        star imports included (``from layers import *`` bringing ``nn`` and ``torch``)."""
        names: dict[str, str] = {}
        for source in summary.imports.star_sources:
            found = self._load(source)
            if found is None or _depth >= 8:
                continue
            exported = {**self.star_names(found, _depth + 1), **found.imports.bindings}
            for name, target in exported.items():
                if not name.startswith("_"):
                    names.setdefault(name, target)
        return names

    def star_files(self, summary: FileSummary) -> list[str]:
        """``module=sha`` of every module the file's star imports read, for cache keys."""
        keys, pending, seen = [], list(summary.imports.star_sources), set()
        while pending:
            source = pending.pop()
            if source in seen:
                continue
            seen.add(source)
            found = self._load(source)
            keys.append(f"*{source}={found.sha if found else '?'}")
            pending.extend(found.imports.star_sources if found else [])
        return sorted(keys)

    def dependencies(self, summary: FileSummary) -> list[str]:
        """Every base class the file's classes inherit from, with the hash of the file defining it
        (``?`` when not found): a cached result is valid only while all of these stay the same."""
        keys: set[str] = set(self.star_files(summary)) | {f"defines .{name}()" for name in self.tensor_method_clashes}
        for cls in summary.classes.values():
            for callee in sorted(cls.tree_calls):
                if callee.startswith("self."):
                    continue
                found = self._find(callee, lambda s, rest: s.functions.get(rest))
                keys.add(f"{callee}()={found[0].sha if found else '?'}")
        pending = [base for c in summary.classes.values() for base in c.bases if base]
        while pending:
            base = pending.pop()
            found = self.lookup(base)
            file = self._files.get(found.module) if found else None
            key = f"{base}={file.sha if file else '?module' if base in self.inferred_module_bases else '?'}"
            if key not in keys:
                keys.add(key)
                pending.extend(b for b in (found.bases if found else ()) if b)
        return sorted(keys)

    def find_tensor_method_clashes(self) -> None:
        """Methods ``torch_facts.TENSOR_ONLY_METHODS`` lists that a class of the tree defines too (a tensor-like
        class with its own ``normal_()``): in this tree such a call no longer proves a tensor. Run once every
        file is added; the cache keys name what it found (``dependencies``)."""
        self.tensor_method_clashes = frozenset(name for summary in self._files.values() if summary is not None
                                               for cls in summary.classes.values()
                                               for name in cls.members & TENSOR_ONLY_METHODS)

    def infer_module_bases(self) -> None:
        """Bases from packages nnreg does not read that are nn.Modules by what the tree does with them: a
        class of the tree that calls a method only nn.Module has on itself (``self.register_buffer``)
        and reaches exactly one unread base through its known ancestors proves that base a module.
        Run once every file of the tree is added; the cache keys name what it found (``dependencies``)."""
        found: set[str] = set()
        for summary in list(self._files.values()):
            for cls in summary.classes.values() if summary is not None else ():
                if not cls.calls_module_api:
                    continue
                unread = {base for c in [cls, *self.ancestors(cls)] for base in c.bases
                          if base and "." in base and self.lookup(base) is None and not base.startswith(_NOT_INFERRED)}
                if len(unread) == 1 and not self.is_module_class(cls):
                    found |= unread
        self.inferred_module_bases = frozenset(found)
        self._is_module.clear()

    def is_external_module_base(self, qualified: str) -> bool:
        if qualified in self.module_bases or qualified in self.inferred_module_bases:
            return True
        return qualified.startswith("torch.nn.") and not qualified.startswith(_NOT_MODULES)

    def may_hold_finding(self, cls: ClassSummary) -> bool:
        """Stage 1's verdict on a class: only a module class that may assign a tensor to ``self`` can
        hold a finding (its own candidate test, or a tree function it stores the result of)."""
        return self.is_module_class(cls) and (cls.may_hold_tensor or any(
            self.call_returns_tensor(cls, callee) for callee in sorted(cls.tensor_sources)))

    def subclasses_touching(self, cls: ClassSummary, attribute: str) -> list[str]:
        """Classes of the known files that inherit from ``cls`` and load or assign ``self.<attribute>``."""
        return sorted(c.qualified for summary in self._files.values() if summary is not None
                      for c in summary.classes.values() if c is not cls and attribute in c.touches
                      and any(base.qualified == cls.qualified for base in self.ancestors(c)))

    def is_module_class(self, cls: ClassSummary) -> bool:
        if cls.qualified not in self._is_module:
            self._is_module[cls.qualified] = False  # guards against inheritance cycles
            chain = [cls, *self.ancestors(cls)]
            self._is_module[cls.qualified] = any(
                base is not None and self.is_external_module_base(base) for c in chain for base in c.bases
            )
        return self._is_module[cls.qualified]

    def moves_own_tensors(self, cls: ClassSummary) -> bool:
        """The class or a known base moves its tensors itself (see :func:`moves_own_tensors`)."""
        return any(c.moves_own_tensors for c in [cls, *self.ancestors(cls)])

    def inherited(self, cls: ClassSummary) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """Members, parameters and buffers that the known base classes define or register."""
        members: set[str] = set()
        params: set[str] = set()
        buffers: set[str] = set()
        for base in self.ancestors(cls):
            members |= base.members
            params |= base.parameters
            buffers |= base.buffers
        return frozenset(members), frozenset(params), frozenset(buffers)
