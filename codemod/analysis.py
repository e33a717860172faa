"""The libcst stage: visitors that collect facts about the attributes of module classes.

Nothing here decides anything. For each module class the visitors record every assignment to
``self.X`` (with the statement node, so the rewrite can replace exactly that node), in-place
mutations, ``del``, ``.grad`` reads, ``nn.init`` calls, CPU-only uses and the position of
``super().__init__()``. Which methods run as part of ``__init__`` is worked out afterwards from the
``self.method()`` calls each method makes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import libcst as cst
from libcst.metadata import CodeRange

from . import default_device, suppression
from .index import ClassIndex, ClassSummary, FileSummary, reachable_methods
from .suppression import Suppression
from .arguments import sort_arguments
from .containers import ContainerFacts, collect
from .defaults import UNKNOWN, literal_defaults, literal_value, under_defaults
from .torch_facts import LAYER_INIT_CALLS, LAYER_TENSORS, SIZED_LAYERS, TENSOR_ONLY_METHODS, torch_layer
from .tensors import (DTYPES, POSSIBLE, VIEW_ATTRIBUTES, VIEW_METHODS, ExprInfo, Scope, argument_info, classify,
                      dotted, keyword_argument, merge_branches, narrowed_info, self_attribute,
                      tensor_tests, truth_operands)

TargetShape = Literal["plain", "chained", "tuple", "setattr"]
NO_GRAD_CONTEXTS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                              "torch.autograd.grad_mode.no_grad"})
CPU_ONLY_METHODS = frozenset({"numpy", "tolist", "cpu"})
DATA_LOADING_KEYWORDS = frozenset({"collate_fn", "worker_init_fn"})
# Calls that turn a tensor into Python values: what they get is read on the host, element by element.
HOST_BUILTINS = frozenset({"int", "float", "bool", "range", "list", "tuple", "sorted", "enumerate", "zip",
                           "reversed", "set", "dict"})
# Methods that describe, compare or hash the module rather than compute with its tensors.
METADATA_METHODS = frozenset({"__repr__", "__str__", "extra_repr", "__format__", "__eq__", "__ne__", "__hash__"})
# ... and ``reset_parameters``, the torch convention for re-initialising: reads there build, not use
NOT_USING_METHODS = METADATA_METHODS | {"reset_parameters"}
# Words by which authors say a tensor is meant to be trained (comments and docstrings).
_TRAINABLE_WORDS = re.compile(r"\b(trainable|learnable|learned|learnt|to be learned|learn(?:ing)? (?:the )?weights?)\b",
                              re.IGNORECASE)
# Calls whose tensor arguments act as a linear map of the input, and where their bias goes.
_MAP_CALLS = frozenset({"torch.matmul", "torch.mm", "torch.bmm", "torch.einsum", "torch.tensordot",
                        "torch.nn.functional.linear", "torch.nn.functional.bilinear", "torch.nn.functional.conv1d",
                        "torch.nn.functional.conv2d", "torch.nn.functional.conv3d",
                        "torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d",
                        "torch.nn.functional.conv_transpose3d"})
_WEIGHT_AND_BIAS = frozenset({"torch.nn.functional.linear", "torch.nn.functional.conv1d",
                              "torch.nn.functional.conv2d", "torch.nn.functional.conv3d",
                              "torch.nn.functional.conv_transpose1d", "torch.nn.functional.conv_transpose2d",
                              "torch.nn.functional.conv_transpose3d"})


@dataclass
class Assignment:
    """One ``self.X = EXPR`` (or annotated) statement inside a method."""

    attribute: str
    info: ExprInfo
    statement: cst.Assign | cst.AnnAssign | cst.Call
    method: str
    self_name: str
    line: int
    column: int
    shape: TargetShape = "plain"
    before_super: bool = False
    in_no_grad: bool = False
    suppressions: tuple[Suppression, ...] = ()  # the suppression comments on the statement's lines
    branch: tuple[tuple[int, int], ...] = ()  # (id of each enclosing ``if``, 0 body / 1 else)
    says_trainable: bool = False  # its comment, the comment above it or its method's docstring says so
    built_once: bool = False  # inside ``if self.X is None:``: the first call builds it, later ones keep it
    updates_itself: bool = False  # a new value computed from the old one on every path (``self.n = self.n + 1``)
    # why the default call of the method does not run it (``if record: ...`` with ``record=False``), or None
    off_by_default: str | None = None

    def excludes(self, other: Assignment | Use) -> bool:
        """True when the two sit in different branches of one ``if``: at most one of them runs."""
        if self.method != other.method:
            return False
        for (node, side), (other_node, other_side) in zip(self.branch, other.branch, strict=False):
            if node != other_node:
                return False
            if side != other_side:
                return True
        return False


@dataclass
class Use:
    """A use of ``self.X`` that matters for the decision (mutation, ``.grad`` read, ``del``...)."""

    attribute: str
    kind: str
    method: str
    line: int
    in_no_grad: bool = False
    detail: str = ""
    branch: tuple[tuple[int, int], ...] = ()


@dataclass
class ClassFacts:
    summary: ClassSummary
    assignments: list[Assignment] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    init_methods: frozenset[str] = frozenset()
    # methods that run after construction: those ``__init__`` does not reach and every method they call
    # (a helper ``__init__`` calls may be called again by ``forward``)
    later_methods: frozenset[str] = frozenset()
    forward_methods: frozenset[str] = frozenset()  # ``forward`` and what it calls on self
    # ``super().__init__()`` at the top level of ``__init__``, and that method's name for self
    super_init_line: tuple[cst.SimpleStatementLine, str] | None = None
    data_loading_methods: frozenset[str] = frozenset()
    layer_base: str | None = None  # a torch.nn layer among the bases: it holds ``self.weight`` & co itself
    containers: dict[str, ContainerFacts] = field(default_factory=dict)  # plain containers on self (NR101/NR102)

    def uses_of(self, attribute: str, *kinds: str) -> list[Use]:
        return [u for u in self.uses if u.attribute == attribute and u.kind in kinds]

    @property
    def not_using_methods(self) -> frozenset[str]:
        """Methods whose reads do not use the module after construction: ``__init__`` and the helpers
        only it calls, ``reset_parameters`` and the methods that only describe, compare or hash."""
        return (self.init_methods - self.later_methods) | NOT_USING_METHODS

    def reads_after_init(self, attribute: str) -> list[Use]:
        """Reads of ``self.X`` in methods that run after construction (``not_using_methods``)."""
        return [u for u in self.uses_of(attribute, "read") if u.method not in self.not_using_methods]

    def after_init(self, attribute: str, *kinds: str) -> list[Use]:
        return [u for u in self.uses_of(attribute, *kinds) if u.method not in self.init_methods]


# What a read may ask of a tensor without its values or device: a registration changes none of these answers.
SHAPE_ATTRIBUTES = frozenset({"shape", "ndim"})
SHAPE_METHODS = frozenset({"size", "dim", "numel", "nelement"})


def _size_question(call: cst.Call, scope: Scope) -> list[cst.BaseExpression]:
    """What a call asks only the size of: the argument of ``len(x)`` (the builtin, not a name the file
    rebinds), the receiver of ``x.size()``/``x.dim()``/``x.numel()``."""
    func = call.func
    if isinstance(func, cst.Name) and func.value == "len" and scope.qualified(func) is None and len(call.args) == 1:
        return [call.args[0].value]
    if isinstance(func, cst.Attribute) and func.attr.value in SHAPE_METHODS:
        return [func.value]
    return []


def suppressions_on(lines: list[str], first: int, last: int) -> tuple[Suppression, ...]:
    """The suppression comments on lines ``first..last`` (1-based) of a statement."""
    return tuple(s for number in range(first, last + 1) if number <= len(lines)
                 for s in suppression.on_line(lines[number - 1], number))


@dataclass
class _Branches:
    """Locals before an ``if`` and at the end of its body, to join with its ``else``."""

    node: cst.If
    before: dict[str, ExprInfo]
    body: dict[str, ExprInfo] | None = None
    none_tested: frozenset[str] = frozenset()  # ``if self.X is None:``: X is unset in the body
    by_default: bool | None = None  # the test's value when the method's arguments keep their defaults
    tensors_if_false: frozenset[str] = frozenset()  # ``if not isinstance(x, torch.Tensor):``: x is one after it
    flag_unset: bool = False  # ``if not self.built:`` with ``self.built = True`` in the method: the body runs once
    guards_else: Literal["flag", "cache", ""] = ""  # ``if self.built: return`` / ``if self.X is not None: return``, then ``else``


class _MethodScanner(cst.CSTVisitor):
    """Walks one method in source order; locals are tracked so later statements see them."""

    def __init__(self, facts: ClassFacts, method: cst.FunctionDef, scope: Scope,
                 positions: Mapping[cst.CSTNode, CodeRange], lines: list[str]) -> None:
        self.facts = facts
        self.root = method
        self.defaults = literal_defaults(method)
        self.name = method.name.value
        self.scope = scope
        self.positions = positions
        self.lines = lines
        self.no_grad: list[cst.With] = []
        self.loops = 0
        self.ifs: list[_Branches] = []
        self.super_seen = self.name != "__init__"
        self.self_calls: set[str] = set()
        self.data_loaders: set[str] = set()
        self._written: set[int] = set()
        self._shape_only: set[int] = set()  # ``self.X`` nodes whose read only asks for a size (``len(self.X)``)
        self.returned_unless_unset: frozenset[str] = frozenset()  # ``if self.X is not None: return`` ran before
        self.flags_set = _flags_set_true(method, scope.self_name)  # ``self.built = True`` somewhere in the method
        self.returned_unless_flag = False  # ``if self.built: return`` ran before, ``built`` one of flags_set
        self.line: cst.SimpleStatementLine | None = None  # the statement line being visited, at the top level

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self.line = node if not self.ifs and not self.loops and not self.no_grad else None

    def _branch(self) -> tuple[tuple[int, int], ...]:
        return tuple((id(frame.node), 0 if frame.body is None else 1) for frame in self.ifs)

    def _line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def _use(self, attribute: str, kind: str, node: cst.CSTNode, detail: str = "") -> None:
        self.facts.uses.append(Use(attribute, kind, self.name, self._line(node), bool(self.no_grad), detail,
                                   self._branch()))

    def _base_attribute(self, node: cst.BaseExpression) -> str | None:
        """``X`` for ``self.X`` and ``self.X[...]``: the attribute an expression reads from."""
        while isinstance(node, cst.Subscript):
            node = node.value
        return self_attribute(node, self.scope.self_name)

    def _host(self, node: cst.BaseExpression, detail: str) -> None:
        attribute = self._base_attribute(node)
        if attribute:
            self._use(attribute, "host", node, detail)

    def visit_For(self, node: cst.For) -> None:  # type: ignore[override]
        self.loops += 1
        self._iterated(node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._iterated(node.iter)

    def _iterated(self, iterable: cst.BaseExpression) -> None:
        self._host(iterable, "iterated in Python")

    def visit_If(self, node: cst.If) -> None:
        """Each branch starts from the locals before the ``if``; ``leave_If`` joins them."""
        self._truth_tested(node.test)
        if self.ifs and self.ifs[-1].node.orelse is node:  # an ``elif``: the outer body is done
            self._start_else(self.ifs[-1])
        tested = _none_tested(node.test, self.scope.self_name)
        for attribute in tested:
            self._use(attribute, "unset-test", node.test)
        flag = _flag_tested(node.test, self.scope.self_name, self.flags_set)
        self.ifs.append(_Branches(node, dict(self.scope.locals), none_tested=tested,
                                  tensors_if_false=tensor_tests(node.test, self.scope)[1],
                                  by_default=under_defaults(node.test, self.defaults),
                                  flag_unset=flag == "unset",
                                  guards_else=_else_guard(node, flag, self.scope.self_name)))

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._truth_tested(node.test)

    def visit_CompIf(self, node: cst.CompIf) -> None:
        self._truth_tested(node.test)

    def _truth_tested(self, test: cst.BaseExpression) -> None:
        for operand in _tested_operands(test):
            self._host(operand, "truth-tested in Python")

    def visit_Subscript(self, node: cst.Subscript) -> None:
        """``self.X[i]`` with a Python int ``i`` reads one 0-d element."""
        attribute = self_attribute(node.value, self.scope.self_name)
        if attribute and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            index = classify(node.slice[0].slice.value, self.scope)
            if index.rank0 == "yes" and not index.is_tensor:
                self._use(attribute, "number-index", node)

    def _copy_default(self, key: str, value: cst.BaseExpression | None) -> None:
        """``self.flag = flag`` outside any ``if``: ``self.flag`` keeps the argument's default (or loses it
        when assigned anything else), so that ``if self.flag:`` is decided like ``if flag:``; ``self.flag =
        False`` fixes it for every call."""
        literal = literal_value(value) if value is not None and not self.ifs else UNKNOWN
        if isinstance(value, cst.Name) and value.value in self.defaults and not self.ifs:
            self.defaults[key] = self.defaults[value.value]
        elif literal is not UNKNOWN:
            self.defaults[key] = literal  # type: ignore[assignment]
        else:
            self.defaults.pop(key, None)

    def _off_by_default(self, statement: cst.CSTNode) -> str | None:
        """Why the method's default call does not assign this value: an enclosing ``if`` whose test is
        false (or, in its ``else``, true) with the default arguments, or ``X if test else None``."""
        for frame in self.ifs:
            in_body = frame.body is None
            if frame.by_default is (not in_body):
                test = cst.Module([]).code_for_node(frame.node.test)
                return f"`if {test}:` is {'false' if in_body else 'true'} with the default arguments"
        value = getattr(statement, "value", None)
        if isinstance(value, cst.IfExp):
            taken = under_defaults(value.test, self.defaults)
            chosen = value.body if taken else value.orelse
            if taken is not None and isinstance(chosen, cst.Name) and chosen.value == "None":
                test = cst.Module([]).code_for_node(value.test)
                return f"`{test}` is {'true' if taken else 'false'} with the default arguments, which give None"
        return None

    def _says_trainable(self, first: int, last: int) -> bool:
        """The assignment's own comment, the comment lines right above it, or the method's docstring
        call it trainable/learnable."""
        text = [line.partition("#")[2] for line in self.lines[first - 1 : last]]
        above = first - 2
        while above >= 0 and self.lines[above].lstrip().startswith("#"):
            text.append(self.lines[above])
            above -= 1
        text.append(self.root.get_docstring() or "")
        return any(_TRAINABLE_WORDS.search(t) for t in text)

    def _role_attribute(self, node: cst.BaseExpression | None) -> str | None:
        """The attribute an operand reads through slices and views (``self.W.t()``, ``self.W[0]``)."""
        return _viewed_attribute(node, self.scope.self_name) if node is not None else None

    def _map_roles(self, node: cst.BinaryOperation) -> None:
        """``x @ self.W`` makes ``W`` a linear map; ``x @ self.W + self.b`` makes ``b`` its bias. The
        detail names the partner attribute (the bias of a map, the map of a bias), if on ``self``."""
        if isinstance(node.operator, cst.MatrixMultiply):
            for operand in (node.left, node.right):
                attribute = self._role_attribute(operand)
                if attribute:
                    self._use(attribute, "linear-map", node)
        elif isinstance(node.operator, (cst.Add, cst.Subtract)):
            for mine, other in ((node.left, node.right), (node.right, node.left)):
                attribute = self._role_attribute(mine)
                mapped = self._map_of(other)
                if attribute and mapped is not None:
                    self._use(attribute, "bias-of-map", node, mapped)
                    if mapped:
                        self._use(mapped, "linear-map", node, attribute)

    def _map_of(self, node: cst.BaseExpression) -> str | None:
        """For an expression that applies a linear map, the ``self`` attribute used as the map ("" when
        none is); None when the expression is no linear map."""
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
            return self._role_attribute(node.right) or self._role_attribute(node.left) or ""
        if isinstance(node, cst.Call) and self.scope.qualified(node.func) in _MAP_CALLS:
            operands = [self._role_attribute(a.value) for a in node.args]
            return next((a for a in operands if a), "")
        return None

    def _call_roles(self, node: cst.Call, qualified: str | None) -> None:
        """``F.linear(x, self.W, self.b)``, ``torch.matmul(x, self.W)``: the same roles as ``@`` and ``+``."""
        if qualified not in _MAP_CALLS:
            return
        positional = [a.value for a in node.args if a.keyword is None]
        if qualified in _WEIGHT_AND_BIAS:
            weight = keyword_argument(node, "weight") or (positional[1] if len(positional) > 1 else None)
            bias = keyword_argument(node, "bias") or (positional[2] if len(positional) > 2 else None)
            weight_attr, bias_attr = self._role_attribute(weight), self._role_attribute(bias)
            if weight_attr:
                self._use(weight_attr, "linear-map", node, bias_attr or "")
            if bias_attr:
                self._use(bias_attr, "bias-of-map", node, weight_attr or "")
            return
        for value in positional:
            attribute = self._role_attribute(value)
            if attribute:
                self._use(attribute, "linear-map", node)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._map_roles(node)

    def _names_listed(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        """``self.saved_names = ["count", "total"]``: attributes that other code handles by name."""
        holder = self_attribute(target, self.scope.self_name)
        if holder and isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            for element in value.elements:
                name = element.value
                if isinstance(name, cst.SimpleString) and str(name.evaluated_value).isidentifier():
                    self._use(str(name.evaluated_value), "by-name", name, f"self.{holder}")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return node is self.root

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_While(self, node: cst.While) -> None:
        self.loops += 1
        self._truth_tested(node.test)

    def _enter_block(self, node: cst.CSTNode) -> None:
        """Inside a ``try`` or ``match`` a local may keep its earlier value, as in a loop."""
        self.loops += 1

    def leave_For(self, original_node: cst.CSTNode) -> None:
        self.loops -= 1

    visit_Try = visit_Match = _enter_block  # type: ignore[assignment]
    leave_While = leave_Try = leave_Match = leave_For  # type: ignore[assignment]

    def visit_Else(self, node: cst.Else) -> None:
        if self.ifs and self.ifs[-1].node.orelse is node:
            self._start_else(self.ifs[-1])

    def _start_else(self, frame: _Branches) -> None:
        frame.body = dict(self.scope.locals)
        self.scope.locals.clear()
        self.scope.locals.update(frame.before)

    def leave_If(self, original_node: cst.If) -> None:
        frame = self.ifs.pop()
        if not self.ifs and not self.loops and _returns_at_once(original_node):
            self.returned_unless_unset |= _set_tested(original_node.test, self.scope.self_name)
            self.returned_unless_flag |= _flag_tested(original_node.test, self.scope.self_name, self.flags_set) == "set"
        other = frame.body if frame.body is not None else frame.before
        if frame.body is None:  # no ``else``: the path that skipped the body passed the test as false
            other = {**other, **{name: narrowed_info(name, replace(self.scope, locals=frame.before))
                                 for name in frame.tensors_if_false}}
        current = self.scope.locals
        for name in set(other) | set(current):
            paths = [branch.get(name) or argument_info(name, self.scope) for branch in (other, current)]
            known = [info for info in paths if info is not None]
            current[name] = merge_branches(*known) if len(known) == 2 else known[0]

    def _built_once(self, attribute: str) -> bool:
        """Assigned only while a cache is unset: inside ``if self.X is None [or ...]:``; or, for an attribute
        that was None until then, inside ``if self.Y is None:`` (built with Y, so once too) or after (or in
        the ``else`` of) ``if self.Y is not None [and ...]: return``. A flag the method itself sets
        (``if self.built: return`` ... ``self.built = True``, or ``if not self.built:``) guards the same way,
        also for an attribute first assigned there."""
        if any(attribute in f.none_tested for f in self.ifs if f.body is None):
            return True
        earlier = [a for a in self.facts.assignments if a.attribute == attribute]
        unset_until_now = all(a.info.kind == "none" for a in earlier)
        if unset_until_now and (self.returned_unless_flag or any(f.flag_unset for f in self.ifs if f.body is None)
                                or any(f.guards_else == "flag" for f in self.ifs if f.body is not None)):
            return True
        guarded = (bool(self.returned_unless_unset) or any(f.none_tested for f in self.ifs if f.body is None)
                   or any(f.guards_else == "cache" for f in self.ifs if f.body is not None))
        return guarded and bool(earlier) and unset_until_now  # a cache, unset until built

    def _bind_local(self, name: str, info: ExprInfo) -> None:
        """A local bound inside a loop or ``try`` may keep its earlier value: merge the two."""
        if self.loops:
            earlier = self.scope.locals.get(name) or argument_info(name, self.scope)
            if earlier is not None:
                info = merge_branches(earlier, info)
        self.scope.locals[name] = info

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call) and self.scope.qualified(call.func) in NO_GRAD_CONTEXTS:
                self.no_grad.append(node)
                return

    def leave_With(self, original_node: cst.With) -> None:
        if self.no_grad and self.no_grad[-1] is original_node:
            self.no_grad.pop()

    def _record(self, target: cst.BaseExpression, statement: cst.Assign | cst.AnnAssign | cst.Call,
                info: ExprInfo, shape: TargetShape) -> None:
        me = self.scope.self_name
        attribute = self_attribute(target, me)
        if attribute is not None:
            if info.is_tensor:
                self.scope.self_tensors[attribute] = info
            elif info.kind == "registered":
                self.scope.self_tensors[attribute] = ExprInfo("tensor", source=info.source,
                                                              refs=frozenset({attribute}), rank0=info.rank0)
            else:
                self.scope.self_tensors.pop(attribute, None)
            if not info.is_tensor and info.rank0 is not None and info.kind in ("other", "possible"):
                self.scope.self_numbers[attribute] = info
            else:
                self.scope.self_numbers.pop(attribute, None)
            if info.kind == "module":
                self.scope.self_modules.add(attribute)
            self._copy_default(f"{me}.{attribute}", getattr(statement, "value", None))
            start = self.positions[statement]
            self.facts.assignments.append(Assignment(
                attribute=attribute, info=info, statement=statement, method=self.name, self_name=me,
                line=start.start.line, column=self.positions[target].start.column, shape=shape,
                before_super=not self.super_seen, in_no_grad=bool(self.no_grad),
                suppressions=suppressions_on(self.lines, start.start.line, start.end.line), branch=self._branch(),
                says_trainable=self._says_trainable(start.start.line, start.end.line),
                built_once=self._built_once(attribute),
                off_by_default=self._off_by_default(statement),
                updates_itself=info.kind in ("tensor", "possible") and attribute in heads(info.every_path_refs)
                and _computed_update(getattr(statement, "value", None), me, attribute)))
        elif isinstance(target, cst.Name):
            self._bind_local(target.value, info if shape == "plain" else POSSIBLE)
        elif isinstance(target, (cst.Tuple, cst.List)):
            values = statement.value if isinstance(statement, (cst.Assign, cst.AnnAssign)) else None
            elements = values.elements if isinstance(values, (cst.Tuple, cst.List)) else None
            for i, element in enumerate(target.elements):
                same_arity = elements is not None and len(elements) == len(target.elements)
                inner = classify(elements[i].value, self.scope) if same_arity else POSSIBLE  # type: ignore[index]
                self._record(element.value, statement, inner, "tuple")
        elif isinstance(target, cst.Subscript) and self_attribute(target.value, me):
            self._use(self_attribute(target.value, me), "mutation", target)  # type: ignore[arg-type]
            if not info.is_tensor and info.rank0 == "yes":
                self._host(target, "written element by element from Python numbers")
        elif isinstance(target, cst.Attribute):
            owner = self_attribute(target.value, me)
            if owner and target.attr.value == "data":
                self._use(owner, "data-assignment", target)
            elif owner and target.attr.value == "requires_grad":
                value = statement.value if isinstance(statement, (cst.Assign, cst.AnnAssign)) else None
                unset = isinstance(value, cst.Name) and value.value == "False"
                self._use(owner, "requires-grad-unset" if unset else "requires-grad-set", target)

    def visit_Assign(self, node: cst.Assign) -> None:
        self._written.update(id(t.target) for t in node.targets)
        info = classify(node.value, self.scope)
        shape: TargetShape = "chained" if len(node.targets) > 1 else "plain"
        for target in node.targets:
            self._record(target.target, node, info, shape)
            self._names_listed(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is None:
            return
        self._written.add(id(node.target))
        self._record(node.target, node, classify(node.value, self.scope), "plain")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        target = node.target.value if isinstance(node.target, cst.Subscript) else node.target
        attribute = self_attribute(target, self.scope.self_name)
        if attribute:
            self._use(attribute, "mutation", node)

    def visit_Del(self, node: cst.Del) -> None:
        targets = node.target.elements if isinstance(node.target, (cst.Tuple, cst.List)) else [node.target]
        for target in targets:
            value = target.value if isinstance(target, cst.BaseElement) else target
            attribute = self_attribute(value, self.scope.self_name)  # type: ignore[arg-type]
            if attribute:
                self._use(attribute, "del", node)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        me = self.scope.self_name
        owner = self_attribute(node.value, me)
        if owner and node.attr.value == "grad":
            self._use(owner, "grad-read", node)
        if owner and node.attr.value in SHAPE_ATTRIBUTES:
            self._shape_only.add(id(node.value))
        attribute = self_attribute(node, me)
        if attribute and id(node) not in self._written:
            self._use(attribute, "shape-read" if id(node) in self._shape_only else "read", node)

    def visit_Call(self, node: cst.Call) -> None:
        self._shape_only.update(id(e) for e in _size_question(node, self.scope))
        self._data_loading_callbacks(node)
        self._host_arguments(node)
        self._call_roles(node, self.scope.qualified(node.func))
        me = self.scope.self_name
        func = node.func
        if (isinstance(func, cst.Name) and func.value in ("hasattr", "getattr") and len(node.args) >= 2
                and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == me
                and isinstance(node.args[1].value, cst.SimpleString)):
            self._use(str(node.args[1].value.evaluated_value), "looked-up-by-name", node, func.value)
        if isinstance(func, cst.Name) and func.value == "setattr" and node.args:
            if isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == me and len(node.args) >= 3:
                self._setattr(node)
            return
        if not isinstance(func, cst.Attribute):
            return
        method = func.attr.value
        if isinstance(func.value, cst.Name) and func.value.value == me:
            self.self_calls.add(method)
        elif method == "__init__" and self._is_super_init(func.value):
            self.super_seen = True
            if self.name == "__init__" and self.line is not None and self.facts.super_init_line is None:
                self.facts.super_init_line = (self.line, me)
        owner = self_attribute(func.value, me)
        if owner is None and isinstance(func.value, cst.Attribute) and func.value.attr.value == "data":
            data_owner = self_attribute(func.value.value, me)
            if data_owner and method.endswith("_"):
                self._use(data_owner, "data-mutation", node)
        if owner is None and isinstance(func.value, cst.Name) and func.value.value == me and method in (
                "register_buffer", "register_parameter") and node.args:
            name_node = node.args[0].value
            literal = name_node.evaluated_value if isinstance(name_node, cst.SimpleString) else None
            name = literal if isinstance(literal, str) else cst.Module([]).code_for_node(name_node)
            if isinstance(literal, str):
                self._use(literal, "register-call", node)
            else:  # ``for name in names: self.register_buffer(name, ...)``: any attribute may be one of them
                prefix = ""  # ``f"part{i}"`` can only be a name starting with "part"
                if isinstance(name_node, cst.FormattedString) and name_node.parts and isinstance(
                        name_node.parts[0], cst.FormattedStringText):
                    prefix = name_node.parts[0].value
                self._use("*", "computed-registration", node, prefix)
            for arg in node.args[1:2]:
                viewed = _viewed_attribute(arg.value, me)
                if viewed and viewed != name:
                    self._use(viewed, "registered-view", node, name)
        if owner and method in self.scope.tensor_only_methods:
            self._use(owner, "tensor-method", node, method)
        if owner:
            if method == "requires_grad_":
                flag = node.args[0].value if node.args else None
                unset = isinstance(flag, cst.Name) and flag.value == "False"
                self._use(owner, "requires-grad-unset" if unset else "requires-grad-set", node)
            elif method.endswith("_") and not method.startswith("_"):
                self._use(owner, "mutation", node)
            elif method in CPU_ONLY_METHODS:
                self._use(owner, f".{method}()", node)
        if method == "item" or (method in CPU_ONLY_METHODS and owner is None):
            self._host(func.value, f".{method}()")
        qualified = self.scope.qualified(func)
        if qualified and qualified.startswith("torch.nn.init.") and node.args:
            target = node.args[0].value
            if isinstance(target, cst.Attribute) and target.attr.value == "data":
                target = target.value
            attribute = self_attribute(target, me)
            if attribute:
                self._use(attribute, "nn-init", node)

    def _host_arguments(self, node: cst.Call) -> None:
        """Arguments read as Python values: ``int(self.n)``, ``range(...)``, ``*self.sizes``, the
        ``pad`` sizes of ``F.pad``; and sizes handed to a layer, which make an argument a number."""
        func = node.func
        builtin = (isinstance(func, cst.Name) and func.value in HOST_BUILTINS
                   and not self.scope.imports.is_bound(func.value))
        for arg in node.args:
            if arg.star == "*":
                self._host(arg.value, "unpacked with *")
            elif builtin and arg.keyword is None:
                self._host(arg.value, f"passed to {func.value}()")  # type: ignore[attr-defined]
        qualified = self.scope.qualified(func) or ""
        if qualified.startswith("torch.optim.") and node.args and node.args[0].keyword is None:
            for trained in _self_attributes_in(node.args[0].value, self.scope.self_name):
                self._use(trained, "own-optimizer", node, qualified)
        if qualified == "torch.nn.functional.pad":
            pad = keyword_argument(node, "pad") or (node.args[1].value if len(node.args) > 1 else None)
            for element in pad.elements if isinstance(pad, (cst.Tuple, cst.List)) else []:
                operands = [element.value]
                while operands:
                    operand = operands.pop()
                    if isinstance(operand, cst.BinaryOperation):
                        operands += [operand.left, operand.right]
                    else:
                        self._host(operand, "used as a pad size")
        if qualified.startswith("torch.nn.") and qualified.rsplit(".", 1)[-1] in SIZED_LAYERS:
            for arg in node.args[:2]:
                if arg.keyword is None and isinstance(arg.value, cst.Name) and arg.value.value in self.scope.other_args:
                    self.scope.number_args.setdefault(arg.value.value, "yes")

    def _data_loading_callbacks(self, node: cst.Call) -> None:
        """Methods handed to data loading (``collate_fn=self._sample``) run on the CPU side."""
        to_data = (self.scope.qualified(node.func) or "").startswith("torch.utils.data.")
        for arg in node.args:
            method = self_attribute(arg.value, self.scope.self_name)
            keyword = arg.keyword.value if arg.keyword else None
            if method and (to_data or keyword in DATA_LOADING_KEYWORDS):
                self.data_loaders.add(method)

    def _is_super_init(self, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name):
            return receiver.func.value == "super"
        return self.scope.qualified(receiver) is not None

    def _setattr(self, node: cst.Call) -> None:
        name_node = node.args[1].value
        info = classify(node.args[2].value, self.scope)
        name = name_node.evaluated_value if isinstance(name_node, cst.SimpleString) else None
        attribute = name if isinstance(name, str) else "<computed>"
        start = self.positions[node]
        self.facts.assignments.append(Assignment(
            attribute=attribute, info=info, statement=node, method=self.name, self_name=self.scope.self_name,
            line=start.start.line, column=start.start.column, shape="setattr",
            before_super=not self.super_seen, in_no_grad=bool(self.no_grad),
            suppressions=suppressions_on(self.lines, start.start.line, start.end.line)))


class _SelfAttributes(cst.CSTVisitor):
    """Collects ``X`` of every ``self.X`` (a plain visitor: ``libcst.matchers`` costs a quarter second to import)."""

    def __init__(self, me: str) -> None:
        super().__init__()
        self.me = me
        self.found: set[str] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == self.me:
            self.found.add(node.attr.value)


def _self_attributes_in(node: cst.BaseExpression, me: str) -> set[str]:
    """Every ``X`` of ``self.X`` inside an expression."""
    collector = _SelfAttributes(me)
    node.visit(collector)
    return collector.found


_MOVES = frozenset({"to", "cuda", "cpu", "type", "type_as", "float", "double", "half", "bfloat16", "contiguous",
                    "detach", "clone"})


_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "true_divide", "pow", "lerp", "addcmul", "addcdiv", "clamp",
                        "clip", "maximum", "minimum", "masked_fill", "scatter", "scatter_add", "index_add", "index_fill",
                        "exp", "log", "sqrt", "neg", "abs", "sign", "cumsum", "mean", "sum"})


def _computed_update(value: cst.BaseExpression | None, me: str, attribute: str) -> bool:
    """``self.decay = self.decay * 0.9``, ``self.n = torch.clamp(self.n + 1, max=k)``: the shape of a new
    value computed from the old one. A move or cast of itself (``self.w.to(x.device)``) is the same
    state, and a call of another function (``to_device(self.w)``) is not known to compute anything."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in _MOVES:
        value = value.func.value
    if value is None or self_attribute(value, me) == attribute:
        return False
    if isinstance(value, (cst.BinaryOperation, cst.UnaryOperation)):
        return True
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Attribute) and not (dotted(func) or "").startswith("torch."):
            return func.attr.value in _ARITHMETIC  # ``self.x.mul(0.9)``; ``.repeat()``/``.view()`` rearrange
        return (dotted(func) or "").startswith("torch.")
    return False


def heads(refs: frozenset[str]) -> set[str]:
    """The attributes read: ``w`` for ``self.w`` and ``self.w.data``."""
    return {ref.split(".")[0] for ref in refs}


def _class_level_names(item: cst.CSTNode, facts: ClassFacts, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
    """``_buffer_names = ["utility", ...]`` in the class body: attributes that methods handle by name."""
    if not isinstance(item, cst.SimpleStatementLine):
        return
    for statement in item.body:
        value = getattr(statement, "value", None)
        targets = [t.target for t in statement.targets] if isinstance(statement, cst.Assign) else (
            [statement.target] if isinstance(statement, cst.AnnAssign) else [])
        holder = next((t.value for t in targets if isinstance(t, cst.Name)), None)
        if holder is None or not isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            continue
        for element in value.elements:
            if isinstance(element.value, cst.SimpleString) and str(element.value.evaluated_value).isidentifier():
                facts.uses.append(Use(str(element.value.evaluated_value), "by-name", "<class body>",
                                      positions[element.value].start.line, detail=f"class attribute {holder}"))


def _none_tested(test: cst.BaseExpression, me: str) -> frozenset[str]:
    """Attributes an ``if`` test requires to be unset in its body: ``self.X is None`` or ``not
    hasattr(self, "X")``, also as one side of ``or`` (``if self.X is None or reset:``)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _none_tested(test.left, me) | _none_tested(test.right, me)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):  # ``not hasattr(self, "X")``
        call = test.expression
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "hasattr"
                and len(call.args) == 2 and isinstance(call.args[0].value, cst.Name)
                and call.args[0].value.value == me and isinstance(call.args[1].value, cst.SimpleString)):
            return frozenset({str(call.args[1].value.evaluated_value)})
    if (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.comparisons[0].operator, cst.Is)
            and isinstance(test.comparisons[0].comparator, cst.Name) and test.comparisons[0].comparator.value == "None"):
        attribute = self_attribute(test.left, me)
        return frozenset({attribute}) if attribute else frozenset()
    return frozenset()


def _set_tested(test: cst.BaseExpression, me: str) -> frozenset[str]:
    """Attributes an ``if`` test requires to be set in its body: ``self.X is not None`` or ``hasattr(self,
    "X")``, also as one side of ``and`` (``if self.X is not None and n <= len(self.X):``)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _set_tested(test.left, me) | _set_tested(test.right, me)
    negated = cst.UnaryOperation(operator=cst.Not(), expression=test)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.comparisons[0].operator,
                                                                                     cst.IsNot):
        negated = test.with_changes(comparisons=[test.comparisons[0].with_changes(operator=cst.Is())])
    return _none_tested(negated, me)


def _returns_at_once(node: cst.If) -> bool:
    """``if ...: return`` with no ``else``: what follows runs only when the test is false."""
    return node.orelse is None and _body_returns(node)


def _body_returns(node: cst.If) -> bool:
    """``if ...: return``: the body is a lone ``return``, so an ``else`` runs only when the test is false."""
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    return (len(body) == 1 and isinstance(body[0], cst.SimpleStatementLine)
            and len(body[0].body) == 1 and isinstance(body[0].body[0], cst.Return))


def _else_guard(node: cst.If, flag: str | None, me: str) -> Literal["flag", "cache", ""]:
    """What an ``if`` whose body only returns says of its ``else``: it runs while a flag the method sets is
    unset ("flag"), or while a cache is unset ("cache")."""
    if not _body_returns(node):
        return ""
    return "flag" if flag == "set" else "cache" if _set_tested(node.test, me) else ""


def _flags_set_true(method: cst.FunctionDef, me: str) -> frozenset[str]:
    """Attributes the method sets to ``True`` (``self.built = True``): a flag that it has run."""
    flags: set[str] = set()

    class _Collector(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Name) and node.value.value == "True":
                flags.update(a for t in node.targets if (a := self_attribute(t.target, me)))

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return node is method

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

    method.visit(_Collector())
    return frozenset(flags)


def _flag_tested(test: cst.BaseExpression, me: str, flags: frozenset[str]) -> Literal["set", "unset"] | None:
    """``self.F`` ("set") or ``not self.F`` ("unset") for a flag ``F`` the method sets to True."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return "unset" if _flag_tested(test.expression, me, flags) == "set" else None
    return "set" if self_attribute(test, me) in flags else None


def _viewed_attribute(node: cst.BaseExpression, me: str) -> str | None:
    """``X`` when the expression may share ``self.X``'s storage: ``self.X`` itself, a slice, a view
    method (``.view``, ``.t()``...), ``.T``/``.data``, or a ``.to()``/``.cuda()`` that changes no dtype
    (it returns the same tensor when already there). Dtype conversions and arithmetic make copies."""
    while True:
        attribute = self_attribute(node, me)
        if attribute is not None:
            return attribute
        if isinstance(node, cst.Subscript):
            node = node.value
        elif isinstance(node, cst.Attribute) and node.attr.value in VIEW_ATTRIBUTES:
            node = node.value
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and (
                node.func.attr.value in VIEW_METHODS or (
                    node.func.attr.value in ("to", "cuda", "cpu") and not _converts_dtype(node))):
            node = node.func.value
        else:
            return None


def _converts_dtype(call: cst.Call) -> bool:
    """``.to(dtype=...)``, ``.to(torch.float64)``: a positional or keyword dtype (not a device)."""
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == "dtype":
                return True
        elif isinstance(arg.value, (cst.Name, cst.Attribute)) and (dotted(arg.value) or "").rsplit(".", 1)[-1] in DTYPES:
            return True
    return False


def _tested_operands(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The values whose truth ``if``/``while`` asks for: ``not x``, ``x and y``, and both sides of
    ``x >= y`` (a comparison of tensors is a tensor whose truth is read on the host). Identity and
    membership tests (``x is None``, ``k in d``) read no tensor."""
    operands = []
    for node in truth_operands(test):
        if not isinstance(node, cst.Comparison):
            operands.append(node)
        elif not any(isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for c in node.comparisons):
            operands += [node.left, *(c.comparator for c in node.comparisons)]
    return operands


def _positional(node: cst.FunctionDef) -> list[cst.Param]:
    """Positional parameters, positional-only ones (``def __init__(self, /, w)``) first."""
    return [*node.params.posonly_params, *node.params.params]


def _is_plain_method(node: cst.FunctionDef) -> bool:
    decorators = {d.decorator.value for d in node.decorators if isinstance(d.decorator, cst.Name)}
    return bool(_positional(node)) and not decorators & {"staticmethod", "classmethod"}


def construction_hooks(ancestors: list[ClassSummary], layer_base: str | None) -> set[str]:
    """Methods a base class's ``__init__`` calls on self (``self.register_schedule()``, torch's
    ``self.reset_parameters()``): this class's overrides of them run at construction too."""
    hooks = {name for base in ancestors for name in base.init_calls}
    if layer_base in LAYER_INIT_CALLS:
        hooks.add(LAYER_INIT_CALLS[layer_base])
    return hooks


def analyse_class(node: cst.ClassDef, summary: ClassSummary, file: FileSummary, index: ClassIndex,
                  positions: Mapping[cst.CSTNode, CodeRange], lines: list[str]) -> ClassFacts:
    ancestors = index.ancestors(summary)
    facts = ClassFacts(summary=summary, layer_base=torch_layer(b for c in [summary, *ancestors] for b in c.bases))
    calls: dict[str, set[str]] = {}
    data_loaders: set[str] = set()
    methods: list[cst.FunctionDef] = []
    for item in node.body.body:
        _class_level_names(item, facts, positions)
        if not isinstance(item, cst.FunctionDef) or not _is_plain_method(item):
            continue
        methods.append(item)
        scope = _method_scope(item, summary, file, index)
        if facts.layer_base:  # ``self.weight`` of a subclass of nn.Linear is the layer's registered Parameter
            scope.self_tensors.update({name: ExprInfo("tensor", source=f"{facts.layer_base}.{name}",
                                                      refs=frozenset({name}))
                                       for name in LAYER_TENSORS})
        scanner = _MethodScanner(facts, item, scope, positions, lines)
        item.visit(scanner)
        calls.setdefault(item.name.value, set()).update(scanner.self_calls)
        data_loaders |= scanner.data_loaders
    for meeting in default_device.meetings(node, lambda name: _qualifier(name, summary, file)):
        facts.uses.append(Use(meeting.source.removeprefix("self."), "default-device", meeting.method,
                              positions[meeting.node].start.line, detail=meeting.factory))
    facts.init_methods = reachable_methods(calls, "__init__", *construction_hooks(ancestors, facts.layer_base))
    entry_points = calls.keys() - facts.init_methods - NOT_USING_METHODS
    facts.later_methods = reachable_methods(calls, *entry_points)
    facts.forward_methods = reachable_methods(calls, "forward")
    facts.data_loading_methods = reachable_methods(calls, *(data_loaders & calls.keys()))
    if summary.containers:
        scopes = [(method, _method_scope(method, summary, file, index)) for method in methods]
        facts.containers = collect(scopes, frozenset(summary.containers), index, positions)
    return facts


def _qualifier(method: str, summary: ClassSummary, file: FileSummary) -> Callable[[cst.BaseExpression], str | None]:
    """How a method's names resolve: the module's imports, as the method rebinds them."""
    imports = file.imports.overlay(summary.local_bindings.get(method, {}))
    return lambda node: imports.resolve(dotted(node))


def _method_scope(method: cst.FunctionDef, summary: ClassSummary, file: FileSummary, index: ClassIndex) -> Scope:
    """The names a method's expressions resolve in: the module's, as the method rebinds them, and its arguments."""
    scope = Scope(imports=file.imports.overlay(summary.local_bindings.get(method.name.value, {})),
                  self_name=_positional(method)[0].name.value,
                  tree_returns=lambda callee: index.call_returns_tensor(summary, callee),
                  tensor_only_methods=TENSOR_ONLY_METHODS - index.tensor_method_clashes)
    sort_arguments(method, scope)
    return scope


def module_classes(module: cst.Module, file: FileSummary, index: ClassIndex) -> Iterator[tuple[cst.ClassDef, ClassSummary]]:
    """Module classes of the file that nnreg may touch (not those that move their own tensors)."""

    def walk(body: list[cst.CSTNode], prefix: str) -> Iterator[tuple[cst.ClassDef, ClassSummary]]:
        for node in body:
            if isinstance(node, cst.ClassDef):
                qualname = f"{prefix}{node.name.value}"
                summary = file.classes.get(qualname)
                if summary is not None and index.is_module_class(summary):
                    if not index.moves_own_tensors(summary):
                        yield node, summary
                yield from walk(list(node.body.body), qualname + ".")
            elif isinstance(node, cst.FunctionDef):
                yield from walk(list(node.body.body), f"{prefix}{node.name.value}.<locals>.")
            elif isinstance(node, cst.BaseCompoundStatement):
                yield from walk(_nested_statements(node), prefix)

    yield from walk(list(module.body), "")


def _nested_statements(node: cst.BaseCompoundStatement) -> list[cst.CSTNode]:
    """Statements in the blocks of a compound statement, in the order the ast index walks them
    (``index.nested_statements``): body, except handlers, match cases, else, finally."""
    body = getattr(node, "body", None)
    statements: list[cst.CSTNode] = list(body.body) if isinstance(body, cst.IndentedBlock) else []
    for handler in getattr(node, "handlers", ()):
        statements.extend(handler.body.body)
    for case in getattr(node, "cases", ()):
        statements.extend(case.body.body)
    orelse = getattr(node, "orelse", None)
    if isinstance(orelse, cst.If):
        statements.append(orelse)
    elif orelse is not None:
        statements.extend(orelse.body.body)
    final = getattr(node, "finalbody", None)
    if final is not None:
        statements.extend(final.body.body)
    return statements

