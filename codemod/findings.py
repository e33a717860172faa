"""The data that flows between stages: findings, the edits they imply, and per-file results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from .notebooks import CellError
from .reasons import Reason, holding, status_of

if TYPE_CHECKING:
    import libcst as cst

    from .config import Options

    from .suppression import Suppression

# NR001/NR002 wrap or register one tensor; NR101/NR102 put a container's elements in a torch container.
ContainerKind = Literal["module-list", "module-dict", "parameter-list", "parameter-dict"]
Action = Literal["parameter", "buffer", "module-list", "module-dict", "parameter-list", "parameter-dict", "skip"]
CONTAINER_ACTIONS: frozenset[str] = frozenset(get_args(ContainerKind))
Status = Literal["fixed", "ambiguous", "unsafe", "unconfirmed", "suppressed"]


@dataclass(frozen=True)
class Edit:
    """Replace one assignment statement (wrap in ``nn.Parameter``, turn it into a buffer registration, or
    hold its container's elements in ``nn.ModuleList`` & co), or, for ``declare``, add
    ``self.register_buffer(name, None, ...)`` after the statement line."""

    statement: cst.Assign | cst.AnnAssign | cst.SimpleStatementLine
    attribute: str
    class_name: str
    self_name: str
    kind: Literal["parameter", "buffer", "declare", "module-list", "module-dict", "parameter-list", "parameter-dict"]
    persistent: bool
    move_conversion: bool = False  # ``nn.Parameter(t).to(d)`` -> ``nn.Parameter(t.to(d))``


@dataclass
class Finding:
    path: str
    line: int
    column: int
    class_name: str
    attribute: str
    code: str
    action: Action
    persistent: bool | None
    confidence: float
    status: Status
    reasons: list[Reason]
    runtime: dict[str, Any] | None = None
    edits: list[Edit] = field(default_factory=list, repr=False, compare=False)
    score: float = 0.0  # the evidence score that ``confidence`` calibrates (codemod/calibration.py)
    source_line: str = ""  # the line of the finding, as written, for the text report's snippet
    held_back: list[str] = field(default_factory=list)  # the texts of the reasons that hold it back (conclude)
    suppressed_by: list[int] = field(default_factory=list)  # lines of the comments that suppress it
    cell: int | None = None  # in a notebook: the cell (1-based, markdown counted); ``line`` is then within it
    container: str | None = None  # NR101/NR102: the torch container it goes into (``module-list``...), None for tensors

    def conclude(self, options: Options) -> None:
        """Status, action and what holds it back, from its reasons alone (``reasons.status_of``): the
        decision and stage 2 only add reasons, so a refusal found late (the rewrite cannot spell
        ``nn.Parameter``, runtime verification failed) settles the finding the same way."""
        self.status = status_of(self.reasons, options)
        if self.status != "fixed":
            self.action = "skip"
        self.held_back = [reason.text for reason in holding(self.reasons, options)]

    @property
    def position(self) -> str:
        """``line``, or ``cell N:line`` in a notebook, as ruff writes it."""
        return str(self.line) if self.cell is None else f"cell {self.cell}:{self.line}"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.position}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        fields = {k: v for k, v in data.items() if k not in ("class", "reasons", "reason_codes")}
        fields.setdefault("container", None)
        reasons = [Reason.of(code, text) for code, text in zip(data["reason_codes"], data["reasons"], strict=True)]
        return cls(class_name=data["class"], reasons=reasons, **fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "line": self.line, "column": self.column, "class": self.class_name,
            "attribute": self.attribute, "code": self.code, "action": self.action,
            "persistent": self.persistent, "confidence": self.confidence, "status": self.status,
            "reasons": [r.text for r in self.reasons], "reason_codes": [r.code for r in self.reasons],
            "runtime": self.runtime, "score": self.score,
            "source_line": self.source_line, "held_back": self.held_back, "suppressed_by": self.suppressed_by,
            "cell": self.cell, "container": self.container,
        }


@dataclass
class FileResult:
    path: Path
    display: str
    findings: list[Finding] = field(default_factory=list)
    original: bytes | None = None
    fixed: bytes | None = None
    encoding: str = "utf-8"
    error: str | None = None
    # --confirm: class -> {"why": code, "error": text} when it was not built, both None when it was
    probed: dict[str, dict[str, str | None]] = field(default_factory=dict)
    suppressions: list[Suppression] = field(default_factory=list)  # nnreg's own, and unreadable ones
    # notebook cells that do not parse: errors of their own, which leave the other cells checked and fixed
    cell_errors: tuple[CellError, ...] = ()

    @property
    def changed(self) -> bool:
        return self.fixed is not None and self.fixed != self.original

    @property
    def failed(self) -> bool:
        """An error entry to report: the file's own, or a notebook cell's."""
        return self.error is not None or bool(self.cell_errors)
