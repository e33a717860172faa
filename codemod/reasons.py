"""Why a finding is what it is, as data: each reason has a kind, a stable code and its words.

Outputs select reasons by kind (the PR body leaves out warnings, the text report notes what holds a
finding back), and the status of a finding is one pure function of its reasons and the options
(``status_of``): no output reads a reason's kind back from its wording. Codes start with the letter of
their kind (E evidence, D doubt, R refusal, W warning, X runtime, S suppression); the table below is
the documented list (docs/rules.md is generated from it), and a reason cannot carry a code it lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .config import Options
    from .findings import Status

Kind = Literal["evidence", "doubt", "refusal", "warning", "runtime", "suppression"]
KIND_LETTERS: dict[str, Kind] = {"E": "evidence", "D": "doubt", "R": "refusal", "W": "warning", "X": "runtime",
                                 "S": "suppression"}


@dataclass(frozen=True)
class ReasonCode:
    """One documented code: what it means, the status it holds a finding at (None: it holds nothing
    back), and the ``--ambiguous`` values that resolve it (a doubt an option may settle)."""

    meaning: str
    holds: Status | None = None
    resolved_by: tuple[str, ...] = ()


_HELD = {"doubt": "ambiguous", "refusal": "unsafe", "suppression": "suppressed"}


def _codes(table: dict[str, str]) -> dict[str, ReasonCode]:
    """Each code with the status its kind holds a finding at."""
    return {code: ReasonCode(meaning, _HELD.get(KIND_LETTERS[code[0]])) for code, meaning in table.items()}  # type: ignore[arg-type]


CODES: dict[str, ReasonCode] = {
    **_codes({
        "E-INTEGER": "integer or bool dtype: a Parameter cannot hold it",
        "E-REQUIRES-GRAD": "created with requires_grad=True, or switched on later",
        "E-LOST-PARAMETER": "nn.Parameter(...).to(...) returns a plain tensor: the Parameter is lost",
        "E-NO-REQUIRES-GRAD": "created with requires_grad=False, or switched off later",
        "E-TRAINABLE-NAME": "a trainable name (weight, bias, ...) with a learned-looking initialisation",
        "E-NN-INIT": "initialised by a torch.nn.init function, like a weight",
        "E-DETACHED": "detached from autograd (.detach() / .data)",
        "E-NO-GRAD-BLOCK": "created under torch.no_grad()",
        "E-GRAD-READ": ".grad is read",
        "E-CONSTANT-NAME": "a constant-like name (mask, inv_freq, ..._table, ...)",
        "E-DETERMINISTIC": "built by a deterministic constructor",
        "E-TENSOR-USE": "a value nnreg cannot type that the class calls a tensor-only method on (.unsqueeze(), .type_as(), ...)",
        "E-RUNNING-STATE": "mutated in place or updated from its own value outside __init__: running state",
        "E-LAYER-ROLE": "used as the weight or bias of a hand-written layer in forward",
        "E-SAYS-TRAINABLE": "a comment or docstring calls it trainable",
        "E-FIXED-PROJECTION": "a layer role and nothing else: it may be a fixed projection",
        "E-NO-INTENT": "no evidence of intent to train: a buffer keeps every value",
        "E-OPTION": "--ambiguous chose the action",
        "E-BUILT-ONCE": "built once outside __init__ behind a test that it is unset, read by forward",
        "E-FITTED-STATE": "state fitted by a method forward does not call, read by forward",
        "E-MODULE-ELEMENTS": "a plain container of modules: torch.nn classes or module classes of the tree",
        "E-PARAMETER-ELEMENTS": "a plain container of nn.Parameter(...) or requires_grad=True tensors",
        "E-TENSOR-ELEMENTS": "a plain container of tensors",
        "D-NEVER-READ": "never read outside __init__: registering it changes nothing nnreg can see",
        "D-MAYBE-0D": "may be a 0-d tensor, which works next to tensors on any device",
        "D-EXTRA-STATE": "the class saves it itself through get_extra_state()",
        "D-RUNTIME-STATE": "a method replaces it with a new value: runtime state",
        "D-UNINITIALISED": "uninitialised memory that nothing fills: a placeholder",
        "D-BY-NAME": "listed by name in code that may save or move it already",
        "D-COMPUTED-NAME": "the class registers tensors under names computed at run time",
        "D-MIN-CONFIDENCE": "confidence below --min-confidence",
        "D-NOT-PARAMETERS": "trainable tensors that are not nn.Parameter may be trained apart from parameters()",
        "R-MEMBER-NAME": "the name is already a class attribute, property or method",
        "R-GETATTR": "the class defines __getattr__",
        "R-LAYER-BASE": "a torch.nn layer base may register the name itself",
        "R-DEL": "deleted with del: a later assignment would make it plain again",
        "R-SHAPE": "a tuple, chained or other assignment that cannot be rewritten safely",
        "R-BEFORE-SUPER": "assigned before super().__init__()",
        "R-ON-CPU": "placed on the CPU on purpose",
        "R-ALIAS-OF": "an alias of another attribute of the module",
        "R-SHARED-OBJECT": "the same tensor object is stored under several names",
        "R-PARAMETER-VIEW": "derived from a registered Parameter",
        "R-ALIASED-BY": "another attribute is an alias of it",
        "R-NON-TENSOR": "also given a non-tensor value",
        "R-UNTYPED-VALUE": "also assigned a value nnreg cannot type",
        "R-UNSEEN-ORIGIN": "every assignment reads it first: it was set where nnreg cannot see",
        "R-PLAIN-TENSOR": "a Parameter would later be assigned a plain tensor",
        "R-CPU-USE": "used on the CPU on purpose (.numpy(), .tolist(), .cpu())",
        "R-HOST-READ": "read as Python values on the host",
        "R-DEFAULT-DEVICE": "combined with a tensor made on the default device",
        "R-OWN-OPTIMIZER": "trained by an optimizer of its own",
        "R-REGISTERED-VIEW": "part of it is registered already",
        "R-PARTLY-REGISTERED": "one branch of the conditional expression is already registered",
        "R-DATA-LOADING": "read only in data loading, where it must stay on the CPU",
        "R-INPLACE-LEAF": "a Parameter updated in place outside torch.no_grad()",
        "R-NO-SUPER-INIT": "__init__ has no top-level super().__init__() line to declare it after",
        "R-LOOKED-UP": "looked up by name: declaring it would change what that finds",
        "R-KEEP-STATE-DICT": "it would change the state_dict keys, which --keep-state-dict forbids",
        "R-SPELLING": "the rewrite cannot spell nn.Parameter or the buffer in this file",
        "R-VERIFICATION": "the rewritten class failed runtime verification",
        "R-CONTAINER-ELEMENT": "an element of the container may not be of the kind the torch container holds",
        "R-CONTAINER-KEY": "a key may not be a name nn.ModuleDict/nn.ParameterDict accepts",
        "R-CONTAINER-FILLED-LATER": "filled after construction: what it holds changes at run time",
        "R-CONTAINER-REASSIGNED": "given another value elsewhere",
        "R-CONTAINER-SHARED": "passed to other code, which may keep the plain container",
        "R-CONTAINER-USE": "used with an operation the torch container may not do the same way",
        "R-NO-TORCH-CONTAINER": "constant tensors have no torch container: register each, or stack them",
        "R-SELF-MANAGED": "the class defines parameters()/state_dict()/to() & co itself: it manages what it holds",
        "R-CONTAINER-ORDER": "nn.ParameterDict(...) sorts a plain dict's keys: the iteration order would change",
        "R-CONTAINER-SUBCLASS": "a subclass uses the container too: nnreg decides from this class's code alone",
        "W-FLOAT64": "float64: .half()/.to(dtype) on the module now cast it",
        "W-FLOAT-CAST": "floating: .half()/.to(dtype) on the module now cast it",
        "W-MAYBE-FLOAT-CAST": "if floating, .half()/.to(dtype) on the module now cast it",
        "W-STATE-DICT-KEY": "adds a state_dict key: old checkpoints fail strict loading",
        "W-OPTIMIZER": "the optimizer now trains it",
        "W-DDP-BROADCAST": "DDP broadcasts buffers from rank 0 before every forward",
        "W-CALLER-TENSOR": "the tensor comes from the caller: the module holds its own copy after .to()",
        "W-CONTAINER-STATE": "adds state_dict keys and parameters that were never trained, moved or saved",
        "W-TUPLE-BECOMES-LIST": "a tuple becomes a torch container, which can be changed",
        "X-NOT-BUILT": "the probe could not build the class: the static decision stands",
        "X-UNOBSERVED": "the probe saw no value: the static decision stands",
        "X-OBSERVED": "the dtype, shape and device the probe or traced run saw",
        "X-LEFT-BEHIND": "observed staying behind when the module moved",
        "X-FORWARD-FAILED": "forward failed on the target device",
        "X-INTEGER": "an integer or bool dtype at run time",
        "X-NO-GRADIENT": "gets no gradient in forward",
        "X-MUTATED": "changed in place at run time: running state",
        "X-VERIFIED": "runtime verification passed",
        "X-VERIFY-INCOMPLETE": "runtime verification incomplete",
        "X-VERIFY-SKIPPED": "runtime verification could not run",
        "S-COMMENT": "suppressed by a comment on the line",
    }),
    "D-CONFLICT": ReasonCode("evidence for both Parameter and buffer", "ambiguous", ("buffer", "parameter")),
    "D-FITTED-OR-RUNTIME": ReasonCode("set by a method forward does not call: fitted state or runtime state",
                                      "ambiguous", ("buffer",)),
    "D-OFF-BY-DEFAULT": ReasonCode("a tensor only when the caller passes arguments other than the defaults",
                                   "ambiguous", ("buffer",)),
    "X-REFUTED": ReasonCode("the value at run time is not an unregistered tensor", "unconfirmed"),
}


@dataclass(frozen=True)
class Reason:
    kind: Kind
    code: str
    text: str

    @classmethod
    def of(cls, code: str, text: str) -> Reason:
        """A reason with a documented code; its kind is the code's first letter."""
        if code not in CODES:
            raise KeyError(f"undocumented reason code {code}")
        return cls(KIND_LETTERS[code[0]], code, text)


# First match wins: a comment silences everything, a refusal outranks a refutation, which outranks a doubt.
_PRECEDENCE: tuple[Status, ...] = ("suppressed", "unsafe", "unconfirmed", "ambiguous")


def _held_at(reason: Reason, options: Options) -> Status | None:
    entry = CODES[reason.code]
    return None if options.ambiguous in entry.resolved_by else entry.holds


def holding(reasons: list[Reason], options: Options) -> list[Reason]:
    """The reasons that keep a finding from being rewritten, in order."""
    return [reason for reason in reasons if _held_at(reason, options) is not None]


def status_of(reasons: list[Reason], options: Options) -> Status:
    """The status of a finding: the strongest status one of its reasons holds it at, else fixed."""
    held = {_held_at(reason, options) for reason in reasons}
    return next((status for status in _PRECEDENCE if status in held), "fixed")
