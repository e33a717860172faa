"""What a method's arguments are known to hold on entry, from their annotations and defaults.

An argument annotated ``torch.Tensor`` is a tensor; one annotated ``int``/``float`` (or defaulting to
a number) is a Python number, so ``torch.tensor(arg)`` is 0-d; ``float | Tensor`` may be either.
Everything else is unknown: only the runtime probe can type it.
"""

from __future__ import annotations

import libcst as cst

from .tensors import Rank0, Scope, classify
from .torch_facts import TENSOR_TYPES

NUMBER_TYPES = frozenset({"int", "float", "bool", "complex"})


def sort_arguments(node: cst.FunctionDef, scope: Scope) -> None:
    """Sort the arguments: annotated as tensors, annotated (or defaulted) as Python numbers, others."""
    tensors: set[str] = set()
    others: set[str] = set()
    params = [*node.params.posonly_params, *node.params.params][1:] + list(node.params.kwonly_params)
    for param in params:
        annotation = param.annotation.annotation if param.annotation else None
        if annotation is not None and scope.qualified(annotation) in TENSOR_TYPES:
            tensors.add(param.name.value)
            if param.default is not None and classify(param.default, scope).rank0 == "yes":
                scope.number_args[param.name.value] = "maybe"  # ``t: Tensor = torch.tensor(1.0)``: 0-d by default
            continue
        others.add(param.name.value)
        if isinstance(param.default, cst.SimpleString) and param.default.raw_value.isidentifier():
            scope.string_args[param.name.value] = param.default.raw_value
        number = _number_annotation(annotation) if annotation is not None else _number_default(param.default)
        if number:
            scope.number_args[param.name.value] = number
    scope.tensor_args, scope.other_args = frozenset(tensors), frozenset(others)


def _number_annotation(annotation: cst.BaseExpression) -> Rank0 | None:
    """"yes" for ``int``/``float``/``Optional[float]``; "maybe" for ``float | Tensor`` and the like."""
    names: list[str] = []
    pending = [annotation]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.Name):
            names.append(node.value)
        elif isinstance(node, cst.Attribute):
            names.append(node.attr.value)
        elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            pending += [node.left, node.right]
        elif isinstance(node, cst.Subscript) and isinstance(node.value, (cst.Name, cst.Attribute)):
            container = node.value.value if isinstance(node.value, cst.Name) else node.value.attr.value
            if container not in ("Optional", "Union"):
                return None
            pending += [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
        else:
            return None
    named = [n for n in names if n != "None"]
    numbers = [n for n in named if n in NUMBER_TYPES]
    if not numbers:
        return None
    return "yes" if len(numbers) == len(named) else "maybe"


def _number_default(default: cst.BaseExpression | None) -> Rank0 | None:
    while isinstance(default, cst.UnaryOperation):
        default = default.expression
    return "yes" if isinstance(default, (cst.Integer, cst.Float)) else None
