"""The check NR101 and NR102 share: one decision per plain container a module class holds.

The facts come from ``codemod/containers.py``. A container is decided from what its elements are
(facts: a torch.nn class or a module class of the tree, ``nn.Parameter``, a typed tensor), never
from its name. It is rewritten only when every element is known to be of one kind, it is built in
``__init__`` (or a helper it calls) and only filled there, and everything else the class does with
it is something the torch container does the same way; otherwise it is reported with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..torch_facts import MODULE_CONTAINERS, PARAMETER_CONTAINERS, TORCH_CONTAINERS
from .base import Rule

if TYPE_CHECKING:
    from ..analysis import Assignment, ClassFacts
    from ..config import Options
    from ..containers import ContainerFacts, Element, Fill, Holding
    from ..findings import Finding
    from ..index import ClassIndex, ClassSummary
    from ..reasons import Reason

# What each torch container supports beyond indexing, iteration and ``len`` (torch 2.13, checked
# against torch in tests/test_units.py).
SUPPORTED_METHODS: dict[str, frozenset[str]] = {
    "module-list": frozenset({"append", "extend", "insert", "pop", "__delitem__", "__reversed__", "__setitem__",
                              "__iadd__"}),
    "module-dict": frozenset({"keys", "items", "values", "pop", "update", "clear", "__delitem__", "__setitem__"}),
    "parameter-list": frozenset({"append", "extend", "__reversed__", "__setitem__", "__iadd__"}),
    "parameter-dict": frozenset({"keys", "items", "values", "pop", "update", "clear", "get", "copy", "setdefault",
                                 "popitem", "__delitem__", "__reversed__", "__setitem__"}),
}
# How a container is filled, as the torch container's method that must do it.
FILLED_BY = {"append": "append", "extend": "extend", "insert": "insert", "setitem": "__setitem__", "+=": "__iadd__",
             "update": "update", "setdefault": "setdefault"}
# Uses named by codemod/containers.py that only some torch containers serve: ``values()`` kept past the
# loop is a generator on nn.ParameterDict, a view on nn.ModuleDict; ``keys()`` is a view on both.
KEPT_VIEWS = {"module-dict": frozenset({"keys() kept", "values() kept", "items() kept"}),
              "parameter-dict": frozenset({"keys() kept"})}
# Names a dict key cannot take: nn.ModuleDict/nn.ParameterDict set it as an attribute, and these exist.
DICT_MEMBERS = frozenset({"keys", "values", "items", "pop", "update", "clear", "get", "copy", "setdefault", "popitem",
                          "fromkeys", "extra_repr", "T_destination"})
# How reports name the torch container of each kind (``nn.ModuleList``).
TORCH_NAMES = {kind: qualified.removeprefix("torch.") for kind, qualified in TORCH_CONTAINERS.items()}
_FAMILY_ELEMENTS = {"module": frozenset({"module"}), "parameter": frozenset({"parameter", "trainable"}),
                    "tensor": frozenset({"tensor"})}
_FAMILY_CONTAINERS = {"module": MODULE_CONTAINERS, "parameter": PARAMETER_CONTAINERS, "tensor": frozenset()}
CONFIDENCE = 0.9  # every element's type is a fact; not calibrated (the container rows measure it)
# Methods by which a class does itself what registration would do for what it holds.
SELF_MANAGING = frozenset({"parameters", "named_parameters", "state_dict", "load_state_dict", "cuda", "to", "_apply"})


class ContainerRule(Rule):
    """A plain list, tuple or dict held on ``self`` whose elements torch cannot see."""

    def may_hold_finding(self, summary: ClassSummary, index: ClassIndex) -> bool:
        """A module class that assigns ``self`` a plain container that may hold modules or tensors
        (``prefilter.container_attributes``), directly or through a tree function the index types."""
        return index.is_module_class(summary) and any(
            not sources or any(index.builds_modules(q) or index.call_returns_tensor(summary, q) for q in sources)
            for sources in summary.containers.values())

    def check(self, facts: ClassFacts, index: ClassIndex, options: Options, path: str,
              runtime: dict[str, Any] | None = None) -> list[Finding]:
        members = facts.summary.members | index.inherited(facts.summary)[0]
        statements = {id(a.statement): a for a in facts.assignments}
        observed = (runtime or {}).get("attributes", {})
        found = [_decide(c, facts, index, members, statements, options, path, observed.get(c.attribute))
                 for c in facts.containers.values()]
        return [f for f in found if f is not None]


def held_in(finding: Finding) -> str:
    """The torch container a finding's container goes into, also when it is not rewritten."""
    return TORCH_NAMES.get(finding.container or "", "nn.ModuleList" if finding.code == "NR101" else "nn.ParameterList")


def _family(elements: list[Element]) -> str | None:
    kinds = {e.kind for e in elements}
    if kinds & {"module", "nested"}:
        return "module"
    if kinds & {"parameter", "trainable"}:
        return "parameter"
    if "tensor" in kinds:
        return "tensor"
    return None


def _kind(family: str, holdings: list[Holding]) -> str:
    mapping = any(h.form == "mapping" for h in holdings)
    return f"{family}-{'dict' if mapping else 'list'}"


def _valid_key(key: str | None) -> bool:
    """A literal name nn.ModuleDict/nn.ParameterDict can hold: not empty, no '.', not private, not a
    member of the dict or of nn.Module (tests/test_rules.py checks it against torch)."""
    from ..decision import MODULE_MEMBERS

    return bool(key) and "." not in key and not key.startswith("_") and key not in MODULE_MEMBERS | DICT_MEMBERS  # type: ignore[union-attr, operator]


def _observed(elements: list[Element], entry: dict[str, Any] | None) -> tuple[list[Element], list[Reason]]:
    """The elements as the probe saw them (``--confirm``/``nnreg trace``): those nnreg could not type
    take the one kind the container held at run time; a kind the static facts rule out refutes them."""
    from ..containers import Element
    from ..reasons import Reason

    seen = set((entry or {}).get("elements") or [])
    if not seen:
        return elements, []
    untyped = {"unknown"}  # an argument is the caller's: what the probe built with proves nothing of other calls
    if any(e.kind in untyped for e in elements):
        if len(seen) > 1:
            return elements, []  # the untyped ones may be any of them
        kind = next(iter(seen))
        elements = [Element(kind, e.text, e.local) if e.kind in untyped else e for e in elements]  # type: ignore[arg-type]
        return elements, [Reason.of("X-OBSERVED", f"at run time it holds only elements of kind {kind}")]
    unseen = seen - {e.kind for e in elements}
    if unseen:
        return elements, [Reason.of("X-REFUTED", f"at run time it also holds {', '.join(sorted(unseen))}")]
    return elements, []


def _decide(found: ContainerFacts, facts: ClassFacts, index: ClassIndex, members: frozenset[str],
            statements: dict[int, Assignment], options: Options, path: str,
            entry: dict[str, Any] | None = None) -> Finding | None:
    """One container's finding: its family from the elements, then refusals, doubts and warnings;
    None when torch would hold nothing of it or it is registered elsewhere."""
    from ..decision import concluded, settle
    from ..findings import Edit, Finding

    init = facts.init_methods
    attribute = found.attribute
    holdings = [h for h in found.holdings if h.method in init]
    if not holdings:
        return _built_once(found, facts, statements, options, path)
    fills = [f for f in found.fills if f.method in init]
    elements, runtime = _observed([e for h in holdings for e in h.elements] + [f.element for f in fills], entry)
    family = _family(elements)
    if family is None or any(u.kind == "registered" and u.method in init for u in found.uses):
        return None  # nothing torch would hold, or __init__ puts the elements in a torch container as well
    first = holdings[0]
    if any(method == first.method and line > first.line and container in _FAMILY_CONTAINERS[family]
           for method, line, container in found.others):
        return None  # a builder list that __init__ then hands to nn.ModuleList/nn.Sequential itself
    kind = _kind(family, holdings)
    mine = [statements[id(h.statement)] for h in holdings if id(h.statement) in statements]
    refuted = next((r for r in runtime if r.code == "X-REFUTED"), None)
    reasons: list[Reason] = [_evidence(family, elements), *(r for r in runtime if r is not refuted)]
    reasons += _doubts(found, facts, family, elements)
    reasons += _warnings(attribute, family, kind, holdings)
    refusals = _refusals(found, facts, index, members, holdings, fills, elements, family, kind, mine)
    code = "NR101" if family == "module" else "NR102"
    reasons += settle(reasons, code, CONFIDENCE, True, refusals, mine, options, refuted)
    self_name = mine[0].self_name if mine else "self"
    edits = [Edit(h.statement, attribute, facts.summary.qualname, self_name, kind, False)  # type: ignore[arg-type]
             for h in holdings] if family != "tensor" else []
    finding = Finding(path=path, line=first.line, column=first.column, class_name=facts.summary.qualname,
                      attribute=attribute, code=code, action=kind if family != "tensor" else "skip",  # type: ignore[arg-type]
                      persistent=None, confidence=CONFIDENCE, status="fixed", reasons=reasons, edits=edits,
                      score=CONFIDENCE, container=kind if family != "tensor" else None)
    return concluded(finding, mine, options)


def _refusals(found: ContainerFacts, facts: ClassFacts, index: ClassIndex, members: frozenset[str],
              holdings: list[Holding], fills: list[Fill], elements: list[Element], family: str, kind: str,
              mine: list[Assignment]) -> list[Reason]:
    """Why holding the container in a torch one would not behave the same, or cannot be vouched for."""
    from ..decision import MODULE_MEMBERS
    from ..reasons import Reason

    attribute, init = found.attribute, facts.init_methods
    refusals: list[Reason] = []
    strays = [e for e in elements if e.kind not in _FAMILY_ELEMENTS[family]]
    nested = [e for e in strays if e.kind == "nested"]
    if nested:
        refusals.append(Reason.of("R-CONTAINER-ELEMENT", f"{_texts(nested)} is a plain container inside it: nest "
                                                         f"{TORCH_NAMES[kind]} by hand"))
    elif strays:
        what = {"module": "a module", "parameter": "a tensor meant to be trained", "tensor": "a tensor"}[family]
        refusals.append(Reason.of("R-CONTAINER-ELEMENT", f"{_texts(strays)} may not be {what}"))
    keys = [k for h in holdings if h.form == "mapping" for k in h.keys] + [f.key for f in fills if f.keyed]
    if family != "tensor" and kind.endswith("-dict") and not all(_valid_key(k) for k in keys):
        refusals.append(Reason.of("R-CONTAINER-KEY", f"a key may not be a name {TORCH_NAMES[kind]} accepts (a "
                                                     "literal name without '.', not private, not one of its members)"))
    refusals += _reassigned(found, init, family)
    if len({h.form for h in holdings}) > 1:
        refusals.append(Reason.of("R-CONTAINER-REASSIGNED", "a list in one place and a dict in another: no one "
                                                            "torch container holds both"))
    unfilled = sorted({f.how for f in fills if FILLED_BY[f.how] not in SUPPORTED_METHODS.get(kind, frozenset())})
    if family != "tensor" and unfilled:
        refusals.append(Reason.of("R-CONTAINER-USE", f"filled with {unfilled[0]}: {TORCH_NAMES[kind]} cannot do it"))
    if kind == "parameter-dict" and any(h.keys != sorted(h.keys, key=str) for h in holdings if h.keys):
        refusals.append(Reason.of("R-CONTAINER-ORDER", "nn.ParameterDict(...) sorts the keys of a plain dict: "
                                                       "the order it iterates in would change"))
    touching = index.subclasses_touching(facts.summary, attribute)
    if touching:
        refusals.append(Reason.of("R-CONTAINER-SUBCLASS", f"subclass {touching[0]} uses it too: nnreg decides from "
                                                          "this class's code alone"))
    later = [f for f in found.fills if f.method not in init]
    if later:
        refusals.append(Reason.of("R-CONTAINER-FILLED-LATER",
                                  f"filled after construction by {later[0].method}(): what it holds changes at run time"))
    refusals += _unsupported(found, kind, family)
    managing = sorted(SELF_MANAGING & members)
    if managing:
        refusals.append(Reason.of("R-SELF-MANAGED", f"the class defines {', '.join(m + '()' for m in managing)} "
                                                    "itself: it manages what it holds"))
    if attribute in members or attribute in MODULE_MEMBERS:
        refusals.append(Reason.of("R-MEMBER-NAME", f"'{attribute}' is already a class attribute, property or method: "
                                                   "a registered container would be hidden by it"))
    if "__getattr__" in members:
        refusals.append(Reason.of("R-GETATTR", "the class defines __getattr__, which would answer for the "
                                               "registered container"))
    if any(a.before_super for a in mine):
        refusals.append(Reason.of("R-BEFORE-SUPER", "assigned before super().__init__(): assigning a torch "
                                                    "container raises AttributeError there"))
    if family == "tensor":
        refusals.append(Reason.of("R-NO-TORCH-CONTAINER",
                                  "constant tensors have no torch container: register each one with "
                                  "register_buffer, or stack them into one buffer when they share a shape"))
    return refusals


def _doubts(found: ContainerFacts, facts: ClassFacts, family: str, elements: list[Element]) -> list[Reason]:
    """Why rewriting would be a guess: the elements may be trained apart on purpose, the class may register
    them already under names made at run time, or nothing uses the container."""
    from ..reasons import Reason

    if family == "tensor":
        return []
    doubts = []
    if family == "parameter" and any(e.kind == "trainable" for e in elements):
        doubts.append(Reason.of("D-NOT-PARAMETERS", "tensors made with requires_grad=True rather than nn.Parameter: "
                                                    "they may be trained apart from parameters() on purpose"))
    if _registers_computed_names(facts):
        doubts.append(Reason.of("D-COMPUTED-NAME", "the class registers things under names computed at run time "
                                                   "(setattr, register_parameter): they may be what it holds"))
    later = [f for f in found.fills if f.method not in facts.init_methods]
    if not [u for u in found.uses if u.method not in facts.not_using_methods] and not later:
        doubts.append(Reason.of("D-NEVER-READ", "never used outside __init__: registering only adds state "
                                                "nothing reads"))
    return doubts


def _registers_computed_names(facts: ClassFacts) -> bool:
    """``setattr(self, name, value)`` or ``self.register_parameter(name, ...)`` with a name only known at
    run time, in ``__init__`` or what it calls (``add_module`` of the elements themselves is an alias,
    found by codemod/containers.py)."""
    return any(a.attribute == "<computed>" and a.method in facts.init_methods for a in facts.assignments) or any(
        u.kind == "computed-registration" and u.method in facts.init_methods for u in facts.uses)


def _built_once(found: ContainerFacts, facts: ClassFacts, statements: dict[int, Assignment], options: Options,
                path: str) -> Finding | None:
    """Constant tensors put in a plain container once, behind ``if self.X is None``, outside ``__init__``
    (a cache of initial states built on the first call): reported with the hand fix, as in ``__init__``
    (declare buffers holding None, fill them there). A container rebuilt on every call is per-call state."""
    from ..decision import concluded, settle
    from ..findings import Finding
    from ..reasons import Reason

    mine = [statements[id(h.statement)] for h in found.holdings if id(h.statement) in statements]
    if not found.holdings or len(mine) != len(found.holdings) or not all(a.built_once for a in mine):
        return None
    if any(method not in facts.init_methods for method, _, _ in found.others):
        return None  # set back to None later: a cache rebuilt per batch or utterance, not a constant
    elements = [e for h in found.holdings for e in h.elements] + [f.element for f in found.fills]
    if _family(elements) != "tensor" or any(e.kind != "tensor" for e in elements):
        return None
    first = found.holdings[0]
    reasons = [Reason.of("E-BUILT-ONCE", f"built once in {first.method}() (line {first.line}) behind a test that it "
                                         "is unset: constant state of the module")]
    refusals = [Reason.of("R-NO-TORCH-CONTAINER", "constant tensors have no torch container: declare each in __init__ "
                                                  "with register_buffer(name, None) and fill them there")]
    reasons += settle(reasons, "NR102", CONFIDENCE, True, refusals, mine, options)
    finding = Finding(path=path, line=first.line, column=first.column, class_name=facts.summary.qualname,
                      attribute=found.attribute, code="NR102", action="skip", persistent=None, confidence=CONFIDENCE,
                      status="fixed", reasons=reasons, score=CONFIDENCE)
    return concluded(finding, mine, options)


def _texts(elements: list[Element]) -> str:
    shown = sorted({e.text if len(e.text) <= 40 else e.text[:37] + "..." for e in elements})
    return ", ".join(f"`{t}`" for t in shown[:2]) + (f" and {len(shown) - 2} more" if len(shown) > 2 else "")


def _evidence(family: str, elements: list[Element]) -> Reason:
    from ..reasons import Reason

    sure = [e for e in elements if e.kind in _FAMILY_ELEMENTS[family]] or elements
    code, what = {"module": ("E-MODULE-ELEMENTS", "modules"),
                  "parameter": ("E-PARAMETER-ELEMENTS", "tensors meant to be trained"),
                  "tensor": ("E-TENSOR-ELEMENTS", "tensors")}[family]
    return Reason.of(code, f"holds {what} torch cannot see in a plain container: {_texts(sure)}")


def _reassigned(found: ContainerFacts, init: frozenset[str], family: str) -> list[Reason]:
    from ..reasons import Reason

    elsewhere = [h for h in found.holdings if h.method not in init]
    if elsewhere:
        return [Reason.of("R-CONTAINER-REASSIGNED", f"replaced by a new container in {elsewhere[0].method}() "
                                                    f"(line {elsewhere[0].line})")]
    other = [(method, line) for method, line, container in found.others
             if method not in init or container not in _FAMILY_CONTAINERS[family]]
    if other:
        return [Reason.of("R-CONTAINER-REASSIGNED", f"also given another value in {other[0][0]}() "
                                                    f"(line {other[0][1]})")]
    return []


def _unsupported(found: ContainerFacts, kind: str, family: str) -> list[Reason]:
    """Uses a torch container may not serve alike; for constant tensors, which stay in their plain
    container, only what hands the container to other code (registering its elements one by one
    would not reach what that code keeps)."""
    from ..analysis import METADATA_METHODS
    from ..reasons import Reason

    reasons = []
    for use in found.uses:
        if use.method in METADATA_METHODS:
            continue  # shown by __repr__ & co: a torch container prints too
        if family == "tensor" and use.kind != "passed":
            continue
        if use.kind in ("registered", "display"):
            continue  # ``nn.Sequential(*self.layers)(x)`` per call, ``print(self.layers)``: alike on a torch container
        if use.kind == "slice":
            reasons.append(Reason.of("R-CONTAINER-USE", f"a slice in {use.method}() (line {use.line}) would be a "
                                                        f"{TORCH_NAMES[kind]}, not a plain container"))
        elif use.kind == "passed":
            reasons.append(Reason.of("R-CONTAINER-SHARED", f"passed to {use.detail}() in {use.method}() (line "
                                                           f"{use.line}): another object may keep the plain container"))
        elif use.kind == "other" or (use.kind == "method" and use.detail not in SUPPORTED_METHODS[kind]
                                     | KEPT_VIEWS.get(kind, frozenset())):
            what = f".{use.detail}()" if use.kind == "method" else use.detail
            reasons.append(Reason.of("R-CONTAINER-USE", f"{what} in {use.method}() (line {use.line}): "
                                                        f"{TORCH_NAMES[kind]} may not do the same"))
    return reasons[:1]


def _warnings(attribute: str, family: str, kind: str, holdings: list[Holding]) -> list[Reason]:
    from ..reasons import Reason

    if family == "tensor":
        return []
    keys = f"'{attribute}.<key>.*'" if kind.endswith("-dict") else f"'{attribute}.<index>.*'"
    if family == "parameter":
        keys = f"'{attribute}.<key>'" if kind.endswith("-dict") else f"'{attribute}.<index>'"
    found = [Reason.of("W-CONTAINER-STATE", f"adds the state_dict keys {keys}: what it holds was never trained, "
                                            "moved by .to() or saved, so the fix changes training and checkpoints")]
    if any(h.tuple_display for h in holdings):
        found.append(Reason.of("W-TUPLE-BECOMES-LIST", f"a tuple becomes {TORCH_NAMES[kind]}, which can be changed"))
    return found
