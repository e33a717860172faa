"""The rule registry: every code nnreg knows, in the order it reports and documents them.

``--select``/``--ignore`` validation, suppression comments, the text report, ``--statistics``, SARIF,
the PR body and ``nnreg rule`` read ``RULES``; stage 1 asks the enabled rules' cheap predicates and
stage 2 runs their checks and rewrites. A new rule is one module here and one line in ``RULES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .base import Invalid, Rule
from .nr001 import TensorShouldBeParameter
from .nr002 import TensorShouldBeBuffer
from .nr101 import ModulesInPlainContainer
from .nr102 import TensorsInPlainContainer

if TYPE_CHECKING:
    import libcst as cst

    from ..analysis import ClassFacts
    from ..config import Options
    from ..findings import Finding
    from ..index import ClassIndex, ClassSummary, FileSummary
    from ..rewrite import Spellings
    from ..style import FileStyle

RULES: dict[str, Rule] = {rule.code: rule for rule in (TensorShouldBeParameter(), TensorShouldBeBuffer(),
                                                       ModulesInPlainContainer(), TensorsInPlainContainer())}

CONTAINER_CODES = frozenset({"NR101", "NR102"})  # the rules about plain containers: stage 2 asks the probe of them

__all__ = ["CONTAINER_CODES", "RULES", "Invalid", "Rule", "check_class", "enabled", "may_hold_finding", "needs_libcst", "rewrite_findings"]


def enabled(options: Options) -> list[Rule]:
    return [rule for code, rule in RULES.items() if options.selects(code)]


def _once(rules: list[Rule], hook: str) -> list[Rule]:
    """One rule per implementation of ``hook``: rules that inherit it share one run."""
    by_function: dict[Callable[..., Any], Rule] = {}
    for rule in rules:
        by_function.setdefault(getattr(type(rule), hook), rule)
    return list(by_function.values())


def may_hold_finding(summary: ClassSummary, index: ClassIndex, options: Options) -> bool:
    """Stage 1's verdict on a class: an enabled rule may find something in it."""
    return any(rule.may_hold_finding(summary, index) for rule in enabled(options))


def needs_libcst(summary: FileSummary, index: ClassIndex, options: Options) -> bool:
    """Stage 1's verdict on a file: some class of it may hold a finding of an enabled rule."""
    return any(may_hold_finding(c, index, options) for c in summary.classes.values())


def check_class(facts: ClassFacts, index: ClassIndex, options: Options, path: str,
                runtime: dict[str, Any] | None = None) -> list[Finding]:
    """Every enabled rule's findings in one class (a shared check once, with all its codes: stage 2
    applies ``--select`` to what it reports)."""
    return [finding for rule in _once(enabled(options), "check")
            for finding in rule.check(facts, index, options, path, runtime)]


def rewrite_findings(module: cst.Module, findings: list[Finding], names: Spellings, style: FileStyle,
                     options: Options) -> cst.Module:
    """The module (a span of the file) with the edits of the findings still to apply, each rule's
    rewrite in registry order; ``names`` are how the file spells what the edits write."""
    todo = [f for f in findings if f.action != "skip"]
    for rule in _once([rule for code, rule in RULES.items() if any(f.code == code for f in todo)], "rewrite"):
        mine = {code for code, other in RULES.items() if type(other).rewrite is type(rule).rewrite}
        module = rule.rewrite(module, [e for f in todo if f.code in mine for e in f.edits], names, style, options)
    return module
