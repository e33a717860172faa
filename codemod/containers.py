"""Facts about plain containers held by a module class: what rules NR101/NR102 decide from.

A visitor per method records each ``self.X = [...]`` (or tuple, dict, comprehension, ``list(...)``)
with the kind of every element it can see, the elements later put in (``append``, ``extend``,
``insert``, ``+=``, ``self.X[k] = ...``, ``update``, ``setdefault``, each named, since torch's
containers do not all do each), the other values given to ``self.X``, and every other occurrence of
``self.X`` by what is done with it (iterated, indexed, sliced, a method called, passed on). An occurrence it
cannot name is recorded as such: the decision refuses rather than guess what a torch container
would do there. Element kinds are facts, not scores: a call of a torch.nn class or of a module class
of the scanned tree is a module; ``nn.Parameter(...)`` is a Parameter; ``tensors.classify`` types
tensors; a name the method binds is what it was bound to; anything else is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst
from libcst.metadata import CodeRange

from .index import ClassIndex
from .tensors import Scope, classify, self_attribute, truth_operands
from .torch_facts import (MODULE_CONTAINERS, NOT_MODULE_CLASSES, PARAMETER_CONTAINERS, PARAMETER_FACTORIES,
                          is_module_constructor)

ElementKind = Literal["module", "nested", "parameter", "trainable", "tensor", "alias", "argument", "none", "other",
                      "unknown"]
Form = Literal["sequence", "mapping"]
# torch's own containers: what is handed to one (or assigned one) is registered
REGISTERING = MODULE_CONTAINERS | PARAMETER_CONTAINERS
# Builtins that only iterate or measure what they are given: a torch container serves them alike.
ITERATING_BUILTINS = frozenset({"len", "enumerate", "reversed", "zip", "list", "tuple", "iter", "any", "all", "map",
                                "filter", "sorted", "sum", "max", "min"})
FILLING_METHODS = frozenset({"append", "extend", "insert"})
# Builtins that only show what they are given: a torch container prints too.
DISPLAYING = frozenset({"print", "repr", "str", "format"})


@dataclass(frozen=True)
class Element:
    """What one element of a container is, in words for the report; ``local`` is the name it came
    through, so that a local the class also registers itself (``add_module``) reads as an alias."""

    kind: ElementKind
    text: str
    local: str | None = None


@dataclass
class Holding:
    """One ``self.X = <plain container>`` statement."""

    statement: cst.Assign | cst.AnnAssign
    method: str
    line: int
    column: int
    form: Form
    elements: list[Element]
    keys: list[str | None]  # a mapping's literal string keys (None: a key that may not be a literal string)
    tuple_display: bool = False


@dataclass
class Fill:
    """An element put in later: ``self.X.append(v)``, ``.extend([...])``, ``.insert(i, v)``, ``self.X[k] = v``."""

    method: str
    line: int
    element: Element
    key: str | None = None  # for ``self.X[k] = v``: the literal string key, else None
    keyed: bool = False
    how: str = "append"  # append, extend, insert, setitem, +=, update, setdefault: what the torch container must do


@dataclass
class ContainerUse:
    """Any other occurrence of ``self.X``: ``kind`` is iterate, index, slice, method (``detail`` its
    name), registered (unpacked into a torch container), display (``print``), passed (an argument to
    another call) or other."""

    method: str
    line: int
    kind: str
    detail: str = ""


@dataclass
class ContainerFacts:
    attribute: str
    holdings: list[Holding] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    uses: list[ContainerUse] = field(default_factory=list)
    # other values assigned to ``self.X``: (method, line, the torch container it is or None)
    others: list[tuple[str, int, str | None]] = field(default_factory=list)


def _builtin(call: cst.Call, scope: Scope, names: frozenset[str]) -> str | None:
    func = call.func
    if isinstance(func, cst.Name) and func.value in names and not scope.imports.is_bound(func.value):
        return func.value
    return None


def _literal_key(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


class _ContainerScanner(cst.CSTVisitor):
    """One method, in source order: locals are bound as they are assigned."""

    def __init__(self, facts: dict[str, ContainerFacts], method: cst.FunctionDef, scope: Scope, index: ClassIndex,
                 positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self.facts = facts
        self.name = method.name.value
        self.root = method
        self.scope = scope
        self.index = index
        self.positions = positions
        self.me = scope.self_name
        params = method.params
        self.arguments = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self.arguments.add(star.name.value)
        self.locals: dict[str, Element] = {}
        self.registered_locals: set[str] = set()  # locals the class registers itself (add_module, self.Y = m)
        self.iterated: dict[str, str] = {}  # loop variable -> the watched container it runs over
        self.seen: set[int] = set()  # ``self.X`` nodes already accounted for
        self.nested = 0  # inside a nested function or lambda: its body runs when called, not now
        self.iterated_nodes: set[int] = set()  # slices and ``.values()`` calls a ``for`` runs over directly
        self.rebound = _rebound_names(method)  # a name bound twice may hold either value at a use

    def _line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    @property
    def method(self) -> str:
        """Where a use happens: a closure defined in ``__init__`` runs later, so it is not ``__init__``."""
        return f"{self.name}.<locals>" if self.nested else self.name

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.nested += node is not self.root

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.nested -= original_node is not self.root

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.nested += 1

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.nested -= 1

    def _watched(self, node: cst.BaseExpression) -> str | None:
        attribute = self_attribute(node, self.me)
        return attribute if attribute in self.facts else None

    # what elements are

    def element(self, node: cst.BaseExpression) -> Element:
        text = cst.Module([]).code_for_node(node)
        if isinstance(node, cst.Name):
            if node.value == "None":
                return Element("none", text)
            if node.value in self.rebound:
                return Element("unknown", text, node.value)
            if node.value in self.locals:
                return self.locals[node.value]
            if node.value in self.arguments:
                return Element("argument", text)
            return Element("unknown", text)
        if self_attribute(node, self.me):
            return Element("alias", text)
        if isinstance(node, (cst.List, cst.Tuple, cst.ListComp, cst.Dict, cst.DictComp)):
            inner = self.elements(node)
            if inner and any(e.kind in ("module", "nested") for e in inner[1]):
                return Element("nested", text)  # a plain container of modules inside one: torch cannot see it either
            return Element("other", text)
        if isinstance(node, cst.Call):
            qualified = self.scope.qualified(node.func)
            if qualified in PARAMETER_FACTORIES:
                return Element("parameter", text)
            if qualified and is_module_constructor(qualified):
                return Element("module" if _torch_nn_class(qualified) else "unknown", text)
            if qualified and not qualified.startswith("torch."):
                if self.index.builds_modules(qualified):
                    return Element("module", text)  # a module class of the tree, or a factory that builds one
                if self.index.lookup(qualified) is not None:
                    return Element("other", text)  # a class of the tree that is not a module
        info = classify(node, self.scope)
        if info.is_tensor and info.lost_parameter and not info.frozen_parameter:
            return Element("parameter", text)  # ``nn.Parameter(t).to(d)``: a Parameter its author meant, lost
        if info.is_tensor:
            return Element("trainable" if info.requires_grad else "tensor", text)
        if info.kind == "module":
            return Element("module", text)
        if info.kind in ("other", "none"):
            return Element("other", text)
        return Element("unknown", text)

    def elements(self, value: cst.BaseExpression) -> tuple[Form, list[Element], list[str | None]] | None:
        """The form, elements and keys of a plain container value; None when it is not one."""
        if isinstance(value, (cst.List, cst.Tuple)):
            return "sequence", [self._displayed(e) for e in value.elements], []
        if isinstance(value, (cst.ListComp, cst.GeneratorExp)):
            return "sequence", [self.element(value.elt)], []
        if isinstance(value, cst.Dict):
            pairs = [e for e in value.elements if isinstance(e, cst.DictElement)]
            unpacked = [Element("unknown", "**...") for e in value.elements if not isinstance(e, cst.DictElement)]
            return "mapping", [self.element(e.value) for e in pairs] + unpacked, [_literal_key(e.key) for e in pairs]
        if isinstance(value, cst.DictComp):
            return "mapping", [self.element(value.value)], [_literal_key(value.key)]
        if isinstance(value, cst.Call):
            builtin = _builtin(value, self.scope, frozenset({"list", "tuple", "dict"}))
            if builtin is None:
                return None
            positional = [a for a in value.args if a.keyword is None and not a.star]
            keywords = [a for a in value.args if a.keyword is not None]
            if builtin == "dict":
                inner = self.elements(positional[0].value) if len(positional) == 1 else None
                form_elements = inner[1] if inner else [Element("unknown", "...")] * len(positional)
                keys = (inner[2] if inner else [None] * len(positional)) + [a.keyword.value for a in keywords]  # type: ignore[union-attr]
                unpacked = [Element("unknown", "**...") for a in value.args if a.star == "**"]
                return "mapping", form_elements + [self.element(a.value) for a in keywords] + unpacked, keys + [
                    None] * len(unpacked)
            if len(value.args) != len(positional) or len(positional) > 1:
                return "sequence", [Element("unknown", "...")], []
            inner = self.elements(positional[0].value) if positional else ("sequence", [], [])
            return "sequence", (inner[1] if inner else [Element("unknown", "...")]), []
        return None

    def _displayed(self, element: cst.BaseElement) -> Element:
        if isinstance(element, cst.StarredElement):
            return Element("unknown", "*...")
        return self.element(element.value)

    # assignments

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._assigned(target.target, node, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assigned(node.target, node, node.value)

    def _assigned(self, target: cst.BaseExpression, statement: cst.Assign | cst.AnnAssign,
                  value: cst.BaseExpression) -> None:
        attribute = self._watched(target)
        if attribute is not None:
            self.seen.add(id(target))
            found = self.elements(value) if not isinstance(value, cst.GeneratorExp) else None  # a generator is used up
            position = self.positions[statement].start
            if found is not None and (not isinstance(statement, cst.Assign) or len(statement.targets) == 1):
                form, elements, keys = found
                self.facts[attribute].holdings.append(Holding(
                    statement, self.method, position.line, self.positions[target].start.column, form, elements, keys,
                    tuple_display=isinstance(value, cst.Tuple)))
            else:
                self.facts[attribute].others.append((self.method, position.line, self._torch_container(value)))
            return
        if isinstance(target, cst.Subscript):
            attribute = self._watched(target.value)
            if attribute is not None:
                self.seen.add(id(target.value))
                key = target.slice[0].slice.value if len(target.slice) == 1 and isinstance(
                    target.slice[0].slice, cst.Index) else None
                self.facts[attribute].fills.append(Fill(self.method, self._line(target), self.element(value),
                                                        _literal_key(key) if key is not None else None, keyed=True,
                                                        how="setitem"))
            return
        if isinstance(target, cst.Name):
            self.locals[target.value] = _through_local(self.element(value), target.value)
            self.scope.locals[target.value] = classify(value, self.scope)
            return
        if self_attribute(target, self.me) and isinstance(value, cst.Name):
            self.registered_locals.add(value.value)  # ``self.conv1 = conv``: the local's module is registered
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                if isinstance(element.value, cst.Name):
                    self.locals[element.value.value] = Element("unknown", element.value.value, element.value.value)

    def _torch_container(self, value: cst.BaseExpression) -> str | None:
        if isinstance(value, cst.Call):
            qualified = self.scope.qualified(value.func)
            if qualified in REGISTERING:
                return qualified
        return None

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        attribute = self._watched(node.target)
        if attribute is None:
            return
        self.seen.add(id(node.target))
        line = self._line(node)
        if isinstance(node.operator, cst.AddAssign):
            found = self.elements(node.value)
            for element in found[1] if found else [Element("unknown", "...")]:
                self.facts[attribute].fills.append(Fill(self.method, line, element, how="+="))
        else:
            self.facts[attribute].uses.append(ContainerUse(self.method, line, "other", "augmented assignment"))

    def visit_For(self, node: cst.For) -> None:
        self._iterated(node.iter)
        self._directly_iterated(node.iter)
        source = self._watched(node.iter)
        if source is None and isinstance(node.iter, cst.Call) and _builtin(node.iter, self.scope, frozenset({"enumerate"})):
            source = next((self._watched(a.value) for a in node.iter.args if self._watched(a.value)), None)
        for name in _bound_names(node.target):
            self.locals[name] = Element("unknown", name, name)
            if source is not None:
                self.iterated[name] = source

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._iterated(node.iter)
        self._directly_iterated(node.iter)

    def _directly_iterated(self, iterable: cst.BaseExpression) -> None:
        """``for m in self.X[1:]`` and ``for v in self.X.values()``: a slice or a view used once, by the loop."""
        if isinstance(iterable, cst.Subscript) or (isinstance(iterable, cst.Call) and not iterable.args):
            self.iterated_nodes.add(id(iterable))

    def _iterated(self, iterable: cst.BaseExpression) -> None:
        attribute = self._watched(iterable)
        if attribute is not None:
            self.seen.add(id(iterable))
            self.facts[attribute].uses.append(ContainerUse(self.method, self._line(iterable), "iterate"))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        """``m in self.X`` iterates; ``self.X is None`` only asks for identity, which a torch container
        answers alike."""
        for target in node.comparisons:
            attribute = self._watched(target.comparator)
            if attribute is not None and isinstance(target.operator, (cst.In, cst.NotIn)):
                self.seen.add(id(target.comparator))
                self.facts[attribute].uses.append(ContainerUse(self.method, self._line(node), "iterate", "in"))
        if all(isinstance(target.operator, (cst.Is, cst.IsNot)) for target in node.comparisons):
            for operand in (node.left, *(target.comparator for target in node.comparisons)):
                attribute = self._watched(operand)
                if attribute is not None:
                    self.seen.add(id(operand))
                    self.facts[attribute].uses.append(ContainerUse(self.method, self._line(node), "iterate", "is"))

    def visit_If(self, node: cst.If) -> None:
        self._truth_tested(node.test)

    def visit_While(self, node: cst.While) -> None:
        self._truth_tested(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._truth_tested(node.test)

    def _truth_tested(self, test: cst.BaseExpression) -> None:
        """``if self.X:`` and ``not self.X``: emptiness, which a torch container answers alike (``__len__``)."""
        for operand in truth_operands(test):
            attribute = self._watched(operand)
            if attribute is not None:
                self.seen.add(id(operand))
                self.facts[attribute].uses.append(ContainerUse(self.method, self._line(operand), "iterate", "truth"))

    def visit_StarredElement(self, node: cst.StarredElement) -> None:
        """``[*self.X, extra]``: unpacked into a new plain list, element by element."""
        attribute = self._watched(node.value)
        if attribute is not None:
            self.seen.add(id(node.value))
            self.facts[attribute].uses.append(ContainerUse(self.method, self._line(node), "iterate", "*"))

    def visit_Subscript(self, node: cst.Subscript) -> None:
        attribute = self._watched(node.value)
        if attribute is not None and id(node.value) not in self.seen:
            self.seen.add(id(node.value))
            sliced = any(isinstance(element.slice, cst.Slice) for element in node.slice)
            kind = "slice" if sliced and id(node) not in self.iterated_nodes else "index"
            self.facts[attribute].uses.append(ContainerUse(self.method, self._line(node), kind))

    def visit_Del(self, node: cst.Del) -> None:
        targets = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) else [node.target]
        for target in targets:
            value = target.value if isinstance(target, cst.BaseElement) else target
            if isinstance(value, cst.Subscript) and self._watched(value.value):
                self.seen.add(id(value.value))
                self.facts[self._watched(value.value)].uses.append(  # type: ignore[index]
                    ContainerUse(self.method, self._line(node), "method", "__delitem__"))
            elif self._watched(value):  # type: ignore[arg-type]
                self.seen.add(id(value))
                self.facts[self._watched(value)].uses.append(  # type: ignore[arg-type, index]
                    ContainerUse(self.method, self._line(node), "other", "del"))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and isinstance(func.value, cst.Name)
                and self.locals.get(func.value.value, Element("other", "")).kind == "tensor"
                and not (node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "False")):
            self.locals[func.value.value] = Element("trainable", self.locals[func.value.value].text, func.value.value)
        if isinstance(func, cst.Attribute):
            attribute = self._watched(func.value)
            if attribute is not None:
                self.seen.add(id(func.value))
                self._method(attribute, func.attr.value, node)
            elif (isinstance(func.value, cst.Name) and func.value.value == self.me and func.attr.value in (
                    "add_module", "register_module") and len(node.args) >= 2):
                self._registers(node.args[1].value)
        elif isinstance(func, cst.Name) and func.value == "setattr" and len(node.args) >= 3:
            if isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == self.me:
                self._registers(node.args[2].value)
        builtin = _builtin(node, self.scope, ITERATING_BUILTINS)
        shows = _builtin(node, self.scope, DISPLAYING)
        registers = self.scope.qualified(node.func) in REGISTERING
        for arg in node.args:
            attribute = self._watched(arg.value)
            if attribute is None:
                continue
            self.seen.add(id(arg.value))
            if registers and arg.star == "*":
                kind, detail = "registered", self.scope.qualified(node.func) or ""
            elif builtin and arg.keyword is None and not arg.star:
                kind, detail = ("method", "__reversed__") if builtin == "reversed" else ("iterate", builtin)
            elif shows:
                kind, detail = "display", shows
            else:
                kind, detail = "passed", cst.Module([]).code_for_node(node.func)
            self.facts[attribute].uses.append(ContainerUse(self.method, self._line(arg), kind, detail))

    def _registers(self, value: cst.BaseExpression) -> None:
        """``self.add_module(name, value)`` (or ``setattr``): a local, or an element of a watched container
        (``self.X[-1]``, a loop variable over ``self.X``), is registered under a name of its own."""
        if isinstance(value, cst.Name):
            self.registered_locals.add(value.value)
            if value.value in self.iterated:
                self.facts[self.iterated[value.value]].uses.append(
                    ContainerUse(self.method, self._line(value), "registered", "add_module"))
        elif isinstance(value, cst.Subscript) and self._watched(value.value):
            self.facts[self._watched(value.value)].uses.append(  # type: ignore[index]
                ContainerUse(self.method, self._line(value), "registered", "add_module"))

    def _method(self, attribute: str, method: str, node: cst.Call) -> None:
        """What a method called on the container does: put elements in (typed like the display's), or a
        use, named so that the decision can ask whether the torch container has it (``pop()`` without an
        argument, ``values()`` not run over by a loop, are uses of their own)."""
        line = self._line(node)
        plain = all(a.keyword is None and not a.star for a in node.args)
        positional = [a.value for a in node.args]
        fills = self.facts[attribute].fills
        if method in ("append", "insert") and plain and len(positional) == (1 if method == "append" else 2):
            fills.append(Fill(self.method, line, self.element(positional[-1]), how=method))
        elif method == "setdefault" and plain and len(positional) == 2:
            fills.append(Fill(self.method, line, self.element(positional[1]), _literal_key(positional[0]), True,
                              how=method))
        elif method in ("extend", "update") and plain and len(positional) == 1:
            found = self.elements(positional[0])
            elements = found[1] if found else [Element("unknown", "...")]
            keys: list[str | None] = found[2] if found and found[0] == "mapping" else [None] * len(elements)
            for element, key in zip(elements, keys + [None] * (len(elements) - len(keys)), strict=False):
                fills.append(Fill(self.method, line, element, key, method == "update", how=method))
        elif method in FILLING_METHODS | {"setdefault", "update"}:  # starred or keyword arguments: untyped
            fills.append(Fill(self.method, line, Element("unknown", "..."), None, method != "append", how=method))
        else:
            detail = method
            if method == "pop" and not node.args:
                detail = "pop()"
            elif method in ("values", "items", "keys") and id(node) not in self.iterated_nodes:
                detail = f"{method}() kept"
            self.facts[attribute].uses.append(ContainerUse(self.method, line, "method", detail))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        """Every ``self.X`` the visits above did not account for is a use nnreg cannot vouch for."""
        attribute = self._watched(node)
        if attribute is not None and id(node) not in self.seen:
            self.seen.add(id(node))
            self.facts[attribute].uses.append(ContainerUse(self.method, self._line(node), "other",
                                                           "read as a value"))


def _torch_nn_class(qualified: str) -> bool:
    """``torch.nn.Linear`` or ``torch.nn.modules.*.X``: the classes torch.nn exports, modules bar those
    ``NOT_MODULE_CLASSES`` lists (tests/test_rules.py checks it against torch). Deeper names such as
    ``torch.nn.utils.rnn.PackedSequence`` are not modules."""
    return (qualified.count(".") == 2 or qualified.startswith("torch.nn.modules.")) and qualified not in NOT_MODULE_CLASSES


def _rebound_names(method: cst.FunctionDef) -> frozenset[str]:
    """Names the method binds more than once, or by a loop, ``with``, ``except``, walrus or import: which
    value such a name holds where the container gets it depends on the path, so it is not typed."""
    counts: dict[str, int] = {}
    other: set[str] = set()

    class _Bindings(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            for name in _bound_names(node.target):
                counts[name] = counts.get(name, 0) + (1 if isinstance(node.target, cst.Name) else 2)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            for name in _bound_names(node.target):
                counts[name] = counts.get(name, 0) + 1

        def visit_AugAssign(self, node: cst.AugAssign) -> None:
            other.update(_bound_names(node.target))

        def visit_For(self, node: cst.For) -> None:
            other.update(_bound_names(node.target))

        def visit_WithItem(self, node: cst.WithItem) -> None:
            if node.asname is not None:
                other.update(_bound_names(node.asname.name))

        def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
            if node.name is not None:
                other.update(_bound_names(node.name.name))

        def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
            other.update(_bound_names(node.target))

        def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
            bound = node.asname.name if node.asname is not None else node.name
            if isinstance(bound, cst.Name):
                other.add(bound.value)

    method.body.visit(_Bindings())
    return frozenset(other | {name for name, count in counts.items() if count > 1})


def _through_local(element: Element, name: str) -> Element:
    """The element a local holds, remembering the local (``collect`` turns it into an alias when the
    method registers that local itself)."""
    return Element(element.kind, element.text, name)


def _bound_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for e in target.elements for name in _bound_names(e.value)]
    return []


def collect(methods: list[tuple[cst.FunctionDef, Scope]], attributes: frozenset[str], index: ClassIndex,
            positions: Mapping[cst.CSTNode, CodeRange]) -> dict[str, ContainerFacts]:
    """The container facts of ``attributes`` (the stage-1 summary's ``containers``) over the methods,
    each with the scope its names resolve in. An element that came through a local the method also
    registers on ``self`` (``add_module``, ``setattr``, ``self.conv = m``) is an alias."""
    facts = {name: ContainerFacts(name) for name in sorted(attributes)}
    for method, scope in methods:
        scanner = _ContainerScanner(facts, method, scope, index, positions)
        method.visit(scanner)
        if scanner.registered_locals:
            for found in facts.values():
                for holding in found.holdings:
                    if holding.method.partition(".")[0] == scanner.name:
                        holding.elements = [_aliased(e, scanner.registered_locals) for e in holding.elements]
                for fill in found.fills:
                    if fill.method.partition(".")[0] == scanner.name:
                        fill.element = _aliased(fill.element, scanner.registered_locals)
    return facts


def _aliased(element: Element, registered: set[str]) -> Element:
    return Element("alias", element.text, element.local) if element.local in registered else element
