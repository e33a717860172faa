"""The hooks NR001 and NR002 share: both are verdicts of one decision per tensor attribute
(codemod/decision.py weighs the evidence, then names the code), so one check serves both.

The decision imports libcst: it is imported when a file reaches stage 2, never when the registry is
read (``--select`` validation, ``nnreg rule``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Rule

if TYPE_CHECKING:
    from ..analysis import ClassFacts
    from ..config import Options
    from ..findings import Finding
    from ..index import ClassIndex, ClassSummary


class TensorAttributeRule(Rule):
    """A tensor stored on ``self`` without registration."""

    def may_hold_finding(self, summary: ClassSummary, index: ClassIndex) -> bool:
        """A module class that may assign a tensor to ``self`` (codemod/prefilter.py over-approximates it)."""
        return index.may_hold_finding(summary)

    def check(self, facts: ClassFacts, index: ClassIndex, options: Options, path: str,
              runtime: dict[str, Any] | None = None) -> list[Finding]:
        from ..decision import decide_class

        return decide_class(facts, index, options, path, runtime)
