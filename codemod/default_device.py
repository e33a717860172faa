"""Where a class's tensors meet tensors made on the default device, through locals and its own helpers.

``idx = torch.argsort(torch.rand(*a.shape)); torch.gather(a, 1, idx)`` in a helper that receives a view of
``self.table``: today both sit on the CPU. Registered, ``self.table`` follows the module to the GPU while
``idx`` stays behind, and the gather raises. The classifier sees only ``self.X * torch.ones(n)``; this pass
follows each method in source order, flow-insensitively:

- a value is *made on the default device* when a torch factory builds it without ``device=``
  (``torch_facts.DEFAULT_DEVICE_FACTORIES``), and so is what locals, indexing, arithmetic, methods other than
  moves (``.to``, ``.cuda``, ``.type_as``) and torch functions compute from it;
- a value *comes from* ``self.X`` (or from a parameter of the method) when it reads it other than for its size,
  through locals, views and methods that are not moves;
- the two *meet* in a binary operation, a torch function call or a method call that takes both; a helper of
  the class (``self.m(...)``, also a staticmethod) passes the meeting on to the argument given for the
  parameter that meets one, to a fixed point.

A 0-d ``torch.tensor(number)`` is not counted: a 0-d CPU tensor works next to tensors on any device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import libcst as cst

from .torch_facts import DEFAULT_DEVICE_FACTORIES, FULL_REDUCTIONS

Qualify = Callable[[cst.BaseExpression], "str | None"]
# Methods whose result sits where their argument says, not where the receiver was.
MOVES = frozenset({"to", "cuda", "cpu", "type_as", "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"})
SIZE_READS = frozenset({"shape", "ndim", "dtype", "device", "size", "dim", "numel", "nelement"})


@dataclass(frozen=True)
class Meeting:
    """``self.<attribute>`` (or a parameter) meets a tensor ``factory`` made in ``method`` at ``node``."""

    source: str
    method: str
    node: cst.CSTNode
    factory: str


@dataclass
class _Method:
    name: str
    me: str | None  # the instance's name, None for a staticmethod
    parameters: list[str]  # positional parameters after the instance
    node: cst.FunctionDef
    qualify: Qualify
    made: dict[str, str] = field(default_factory=dict)  # local -> the factory its value was made by
    comes_from: dict[str, set[str]] = field(default_factory=dict)  # local -> sources it reads

    def factory_of(self, node: cst.BaseExpression) -> str | None:
        """The default-device factory an expression's value was made by, if any."""
        if isinstance(node, cst.Name):
            return self.made.get(node.value)
        if isinstance(node, cst.Subscript):
            return self.factory_of(node.value)
        if isinstance(node, cst.BinaryOperation):
            return self.factory_of(node.left) or self.factory_of(node.right)
        if isinstance(node, cst.UnaryOperation):
            return self.factory_of(node.expression)
        if not isinstance(node, cst.Call) or any(a.keyword and a.keyword.value == "device" for a in node.args):
            return None
        qualified = self.qualify(node.func)
        if qualified in DEFAULT_DEVICE_FACTORIES:
            return None if _scalar_tensor(node, qualified) else qualified
        if isinstance(node.func, cst.Attribute) and qualified is None:
            method = node.func.attr.value
            if method in MOVES or method in ("item", "tolist") or (method in FULL_REDUCTIONS and not node.args):
                return None  # moved, or a Python value, or 0-d: it works next to tensors on any device
            return self.factory_of(node.func.value)
        if qualified and qualified.startswith("torch."):
            if qualified.removeprefix("torch.") in FULL_REDUCTIONS and len(node.args) == 1:
                return None
            return next((f for f in (self.factory_of(a.value) for a in node.args) if f), None)
        return None

    def sources(self, node: cst.BaseExpression) -> set[str]:
        """``self.X`` attributes (as ``X``) and parameters whose values an expression reads."""
        if isinstance(node, cst.Name):
            if node.value in self.comes_from:
                return self.comes_from[node.value]
            return {node.value} if node.value in self.parameters else set()
        if isinstance(node, cst.Attribute):
            if node.attr.value in SIZE_READS:
                return set()
            if self.me is not None and isinstance(node.value, cst.Name) and node.value.value == self.me:
                return {f"self.{node.attr.value}"}
            return self.sources(node.value)
        if isinstance(node, cst.Subscript):
            return self.sources(node.value)
        if isinstance(node, cst.BinaryOperation):
            return self.sources(node.left) | self.sources(node.right)
        if isinstance(node, cst.UnaryOperation):
            return self.sources(node.expression)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and self.qualify(node.func) is None:
            method = node.func.attr.value
            return set() if method in MOVES or method in SIZE_READS else self.sources(node.func.value)
        if isinstance(node, cst.Call) and (self.qualify(node.func) or "").startswith("torch."):
            return set().union(*(self.sources(a.value) for a in node.args if a.keyword is None
                                 or a.keyword.value not in ("device", "dtype")))
        return set()


class _Walk(cst.CSTVisitor):
    """One method in source order: binds locals, records meetings and the helper calls it makes."""

    def __init__(self, method: _Method, helpers: dict[str, _Method], meets: dict[str, dict[str, str]]) -> None:
        super().__init__()
        self.method, self.helpers, self.meets = method, helpers, meets
        self.meetings: list[Meeting] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.method.node

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_Assign(self, original_node: cst.Assign) -> None:
        m = self.method
        factory, sources = m.factory_of(original_node.value), m.sources(original_node.value)
        for target in original_node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                if factory:
                    m.made[name] = factory
                else:  # ``out = out.cuda()``: rebound to a value made elsewhere (last write wins)
                    m.made.pop(name, None)
                if sources:
                    m.comes_from.setdefault(name, set()).update(sources)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._meet(node, [node.left, node.right])

    def visit_Call(self, node: cst.Call) -> None:
        m = self.method
        qualified = m.qualify(node.func)
        arguments = [a.value for a in node.args if a.keyword is None or a.keyword.value not in ("device", "dtype")]
        if qualified in DEFAULT_DEVICE_FACTORIES:
            return  # ``torch.rand(*a.shape)`` asks a size only
        if qualified and qualified.startswith("torch."):
            self._meet(node, arguments)
        elif isinstance(node.func, cst.Attribute) and qualified is None:
            helper = self._helper(node.func)
            if helper is not None:
                self._pass_on(node, helper)
            elif node.func.attr.value not in MOVES:
                self._meet(node, [node.func.value, *arguments])

    def _helper(self, func: cst.Attribute) -> str | None:
        """``self.m`` for a method ``m`` of the class that meets the default device through a parameter."""
        receiver = func.value
        if self.method.me is not None and isinstance(receiver, cst.Name) and receiver.value == self.method.me:
            return func.attr.value if func.attr.value in self.meets else None
        return None

    def _pass_on(self, call: cst.Call, helper: str) -> None:
        parameters = self.helpers[helper].parameters
        for position, argument in enumerate(call.args):
            name = parameters[position] if argument.keyword is None and position < len(parameters) else (
                argument.keyword.value if argument.keyword else None)
            factory = self.meets[helper].get(name) if name else None
            if factory:
                for source in self.method.sources(argument.value):
                    self.meetings.append(Meeting(source, self.method.name, call, factory))

    def _meet(self, node: cst.CSTNode, operands: list[cst.BaseExpression]) -> None:
        made = [(i, f) for i, f in enumerate(self.method.factory_of(o) for o in operands) if f]
        if not made:
            return
        for i, operand in enumerate(operands):
            factory = next((f for j, f in made if j != i), None)
            if factory:
                for source in self.method.sources(operand):
                    self.meetings.append(Meeting(source, self.method.name, node, factory))


def _scalar_tensor(call: cst.Call, qualified: str) -> bool:
    """``torch.tensor(2.0)``: a 0-d tensor, which works next to tensors on any device."""
    first = call.args[0].value if call.args else None
    return qualified == "torch.tensor" and isinstance(first, (cst.Integer, cst.Float, cst.UnaryOperation))


def _methods(body: list[cst.BaseStatement], qualify_in: Callable[[str], Qualify]) -> Iterator[_Method]:
    for item in body:
        if not isinstance(item, cst.FunctionDef):
            continue
        static = any(isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
                     for d in item.decorators)
        positional = [p.name.value for p in (*item.params.posonly_params, *item.params.params)]
        me = None if static or not positional else positional[0]
        yield _Method(item.name.value, me, positional if static else positional[1:], item, qualify_in(item.name.value))


def meetings(class_node: cst.ClassDef, qualify_in: Callable[[str], Qualify]) -> list[Meeting]:
    """Meetings of ``self`` attributes (sources ``self.X``) with default-device tensors in the class's methods."""
    methods = list(_methods(class_node.body.body, qualify_in))  # type: ignore[arg-type]
    helpers = {method.name: method for method in methods}
    meets: dict[str, dict[str, str]] = {}  # helper -> parameter -> factory it meets
    found: list[Meeting] = []
    for _ in range(3):  # helpers that pass a parameter on to other helpers: a short fixed point
        found, before = [], {name: dict(m) for name, m in meets.items()}
        for method in methods:
            method.made.clear()
            method.comes_from.clear()
            walk = _Walk(method, helpers, meets)
            method.node.visit(walk)
            found += walk.meetings
            for meeting in walk.meetings:
                if meeting.source in method.parameters:
                    meets.setdefault(method.name, {}).setdefault(meeting.source, meeting.factory)
        if meets == before:
            break
    return [m for m in found if m.source.startswith("self.")]
