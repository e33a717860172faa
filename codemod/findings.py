"""The data that flows between stages: findings, the edits they imply, and per-file results."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .notebooks import CellError

if TYPE_CHECKING:
    import libcst as cst

    from .suppression import Suppression

# The codes, by code: (name, short description, full description), as SARIF and --statistics show them.
RULES = {
    "NR001": ("TensorShouldBeParameter", "Tensor attribute should be an nn.Parameter",
              "The module stores a tensor it means to train as a plain attribute: the optimizer never sees it, "
              "and .to()/.cuda() and state_dict() ignore it. Wrap it in nn.Parameter(...)."),
    "NR002": ("TensorShouldBeBuffer", "Tensor attribute should be a registered buffer",
              "The module stores a constant or state tensor as a plain attribute: .to()/.cuda()/.half() leave it "
              "behind and state_dict() forgets it. Register it with self.register_buffer(...)."),
}

Action = Literal["parameter", "buffer", "skip"]
Status = Literal["fixed", "ambiguous", "unsafe", "unconfirmed", "suppressed"]


@dataclass(frozen=True)
class Edit:
    """Replace one assignment statement (wrap in ``nn.Parameter``, or turn it into a buffer registration),
    or, for ``declare``, add ``self.register_buffer(name, None, ...)`` after the statement line."""

    statement: cst.Assign | cst.AnnAssign | cst.SimpleStatementLine
    attribute: str
    class_name: str
    self_name: str
    kind: Literal["parameter", "buffer", "declare"]
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
    reasons: list[str]
    runtime: dict[str, Any] | None = None
    edits: list[Edit] = field(default_factory=list, repr=False, compare=False)
    score: float = 0.0  # the evidence score that ``confidence`` calibrates (codemod/calibration.py)
    source_line: str = ""  # the line of the finding, as written, for the text report's snippet
    held_back: list[str] = field(default_factory=list)  # the reasons, among ``reasons``, it is not rewritten
    suppressed_by: list[int] = field(default_factory=list)  # lines of the comments that suppress it
    cell: int | None = None  # in a notebook: the cell (1-based, markdown counted); ``line`` is then within it

    @property
    def position(self) -> str:
        """``line``, or ``cell N:line`` in a notebook, as ruff writes it."""
        return str(self.line) if self.cell is None else f"cell {self.cell}:{self.line}"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.position}"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        fields = {k: v for k, v in data.items() if k != "class"}
        return cls(class_name=data["class"], **fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "line": self.line, "column": self.column, "class": self.class_name,
            "attribute": self.attribute, "code": self.code, "action": self.action,
            "persistent": self.persistent, "confidence": self.confidence, "status": self.status,
            "reasons": self.reasons, "runtime": self.runtime, "score": self.score,
            "source_line": self.source_line, "held_back": self.held_back, "suppressed_by": self.suppressed_by,
            "cell": self.cell,
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
