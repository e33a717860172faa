"""What a method does when its caller keeps every default argument.

The labelled rounds judge a value by the class built plainly: ``self.w = torch.tensor(w) if w is not
None else None`` with ``w=None`` holds no tensor in the default build, so registering it is a choice
for the callers who pass one, not a fix nnreg can sign. These pure functions evaluate the tests that
decide it from literal defaults only (``None``, booleans, numbers, strings); anything else is unknown.
"""

from __future__ import annotations

import libcst as cst

Literal = bool | int | float | str | None
UNKNOWN = object()


def literal_defaults(method: cst.FunctionDef) -> dict[str, Literal]:
    """The parameters whose default is a literal (``None``, ``True``, a number, a string)."""
    defaults: dict[str, Literal] = {}
    for param in [*method.params.posonly_params, *method.params.params, *method.params.kwonly_params]:
        value = literal_value(param.default) if param.default is not None else UNKNOWN
        if value is not UNKNOWN:
            defaults[param.name.value] = value  # type: ignore[assignment]
    return defaults


def literal_value(node: cst.BaseExpression) -> object:
    """The value of a literal ``None``, boolean, number or string; ``UNKNOWN`` for anything else."""
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[node.value]
    if isinstance(node, (cst.Integer, cst.Float, cst.SimpleString)):
        return node.evaluated_value
    return UNKNOWN


def under_defaults(test: cst.BaseExpression, defaults: dict[str, Literal]) -> bool | None:
    """The value of a test when every argument keeps its literal default, or None when the test reads
    anything else: ``flag``, ``not flag``, ``x is None``, ``x is not None`` and ``and``/``or`` of those. A key
    may be an attribute too (``self.flag``), when the method copied an argument into it."""
    if isinstance(test, (cst.Name, cst.Attribute)):
        key = _key(test)
        return bool(defaults[key]) if key in defaults else None
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = under_defaults(test.expression, defaults)
        return None if inner is None else not inner
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and _key(test.left) in defaults:
        return _compare(defaults[_key(test.left)], test.comparisons[0])
    if isinstance(test, cst.BooleanOperation):
        left, right = under_defaults(test.left, defaults), under_defaults(test.right, defaults)
        if isinstance(test.operator, cst.And):
            return False if False in (left, right) else (True if left and right else None)
        return True if True in (left, right) else (False if left is False and right is False else None)
    return None


def _compare(value: Literal, comparison: cst.ComparisonTarget) -> bool | None:
    """``value is None`` / ``value is not None``; None for any other comparison. Comparisons with other
    literals (``r > 0``, ``mode == "sum"``) are left undecided on purpose: the blind rounds label a
    feature switched on by such an argument (``r > 0`` for a LoRA rank) by what it does when on."""
    op, right = comparison.operator, comparison.comparator
    if isinstance(op, (cst.Is, cst.IsNot)) and isinstance(right, cst.Name) and right.value == "None":
        return (value is None) == isinstance(op, cst.Is)
    return None


def _key(node: cst.BaseExpression) -> str | None:
    """``flag`` or ``self.flag``: the names ``under_defaults`` can know."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name):
        return f"{node.value.value}.{node.attr.value}"
    return None
