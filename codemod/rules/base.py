"""What a rule is: its documentation, its examples, and the hooks the pipeline calls.

Modelled on Fixit's ``LintRule``: one object per code, in its own module, that says why the problem
matters, what the fix does and when nnreg refuses it, with examples that must and must not be
flagged (run as tests by tests/test_rules.py). The pipeline reaches a rule only through these hooks:
the cheap ``ast`` predicate that decides whether a file goes to stage 2, the check over the facts
stage 2 collects, and the rewrite of the edits its findings carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import libcst as cst

    from ..analysis import ClassFacts
    from ..config import Options
    from ..findings import Edit, Finding
    from ..index import ClassIndex, ClassSummary
    from ..rewrite import Spellings
    from ..style import FileStyle


@dataclass(frozen=True)
class Invalid:
    """A module the rule must flag, and the module ``nnreg fix`` must make of it, byte for byte."""

    source: str
    fixed: str


class Rule:
    """One code. Subclasses set the documentation and implement the hooks; rules that inherit one
    ``check`` (NR001 and NR002 are the two verdicts of one decision) have it run once per class."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, as --statistics and SARIF's shortDescription show it
    why: ClassVar[str]  # why it matters
    fix: ClassVar[str]  # the fix, in one sentence
    fix_details: ClassVar[str] = ""  # what else the fix does and writes
    refuses: ClassVar[str]  # when nnreg reports it without rewriting
    valid: ClassVar[tuple[str, ...]] = ()  # modules that must not be flagged
    invalid: ClassVar[tuple[Invalid, ...]] = ()

    @property
    def description(self) -> str:
        """The full description: SARIF's fullDescription and help."""
        return f"{self.why} {self.fix}"

    def may_hold_finding(self, summary: ClassSummary, index: ClassIndex) -> bool:
        """Stage 1's test on a class's ``ast`` summary: False only where ``check`` can find nothing."""
        raise NotImplementedError

    def check(self, facts: ClassFacts, index: ClassIndex, options: Options, path: str,
              runtime: dict[str, Any] | None = None) -> list[Finding]:
        """The findings in one class, from the facts stage 2 collected (and what the probe saw)."""
        raise NotImplementedError

    def rewrite(self, module: cst.Module, edits: list[Edit], names: Spellings, style: FileStyle,
                options: Options) -> cst.Module:
        """The module (a span of the file) with the edits of this rule's findings applied. One rewriter
        knows every kind of edit, so the rules that keep this hook share one pass over the span."""
        from ..rewrite import rewrite_module

        return rewrite_module(module, edits, names, style, options.buffer_style, options.line_length)

    def message(self, finding: Finding) -> str:
        """What is wrong, after ``Class.attribute`` (``should be an nn.Parameter``)."""
        raise NotImplementedError

    def help(self, finding: Finding) -> str:
        """The fix, in the words of the code it writes (the text report's ``help:``)."""
        raise NotImplementedError

    def change(self, finding: Finding) -> str:
        """What a fixed finding became, as the commit message and the PR body write it."""
        raise NotImplementedError
