"""Deciding each finding: Parameter, buffer or leave, and whether rewriting it is safe (SPEC 3-4).

The guiding rule is behaviour preservation: a buffer keeps every number and only makes the tensor
follow the module, so it is the default; a Parameter changes training and needs positive evidence.
Every refusal names the PyTorch error it avoids (see PYTORCH-FACTS.md).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from .analysis import Assignment, ClassFacts, Use, heads
from .calibration import calibrated
from .config import Options
from .findings import Edit, Finding
from .index import ClassIndex
from .reasons import Reason, status_of

TRAINABLE_NAME = re.compile(r"^(weight|bias|gamma|beta|embedding|embeddings|.+_(weight|bias|embedding|embeddings))$")
CONSTANT_NAME = re.compile(
    r"^(mask|.+_mask|running_.+|num_batches_tracked|position_ids|.*inv_freq|.*freqs|.+_table|.+_idx|"
    r"indices|.+_indices|grid|anchors|window|eps)$")
# Attributes of nn.Module itself: register_buffer raises "attribute ... already exists" for them.
MODULE_MEMBERS = frozenset({
    "training", "forward", "to", "cuda", "cpu", "xpu", "mtia", "ipu", "type", "float", "double", "half",
    "bfloat16", "to_empty", "apply", "train", "eval", "parameters", "named_parameters", "buffers",
    "named_buffers", "children", "named_children", "modules", "named_modules", "state_dict",
    "load_state_dict", "register_buffer", "register_parameter", "register_module", "add_module",
    "get_submodule", "set_submodule", "get_parameter", "get_buffer", "get_extra_state",
    "set_extra_state", "zero_grad", "share_memory", "extra_repr", "requires_grad_", "compile",
    "dump_patches", "call_super_init", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_backward_hook", "register_full_backward_pre_hook",
    "register_state_dict_pre_hook", "register_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_load_state_dict_post_hook"})
# What the probe reports when it saw nothing about the value: the attribute was not set, or was None, for
# the arguments it built with. Neither says what the value is for other arguments: not a refutation.
UNOBSERVED = frozenset({"absent", "NoneType"})
# Names a torch.nn layer base may register itself (weight, running_mean, ...).
STANDARD_LAYER_TENSORS = re.compile(r"^(weight|bias|running_mean|running_var|num_batches_tracked|"
                                    r"in_proj_weight|in_proj_bias|.+_weight|.+_bias|weight_.+|bias_.+)$")


@dataclass
class Evidence:
    parameter: list[tuple[Reason, float]]
    buffer: list[tuple[Reason, float]]
    integer: Reason | None = None
    trains: Reason | None = None
    stateful: str | None = None


def _confidence(weights: list[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return round(min(0.99, 1.0 - remaining), 2)


def _reaching(uses: list[Use], tensors: list[Assignment]) -> list[Use]:
    """Uses that can run together with one of the tensor assignments (not only on another branch)."""
    return [u for u in uses if not all(t.excludes(u) for t in tensors)]


def _layer_intent(attribute: str, tensors: list[Assignment], facts: ClassFacts,
                  siblings: frozenset[str]) -> tuple[list[tuple[Reason, float]], bool]:
    """The class-level picture of a hand-written layer (SPEC 3): the tensor's role in ``forward`` (a
    linear map of the input, or the bias added to one), its initialisation, and what else the class
    says: a comment or docstring calling it trainable, ``nn.Parameter`` siblings, a weight and bias
    pair. A role with learned-looking init and one more sign is intent to train; a role alone could
    be a fixed random projection: the second value says so (weak), for the caller to weigh."""
    maps = facts.after_init(attribute, "linear-map")
    biases = facts.after_init(attribute, "bias-of-map")
    inits = {a.info.init for a in tensors}
    says = any(a.says_trainable for a in tensors)
    signs = []
    if says:
        signs.append("a comment or docstring calls it trainable")
    if siblings:
        signs.append(f"the class makes {', '.join(sorted(siblings)[:3])} nn.Parameters")
    partner = next((u.detail for u in maps + biases if u.detail), None)
    if partner:
        signs.append(f"it pairs with self.{partner} as the weight and bias of a hand-written layer")
    learned_init = bool(inits & {"random", "empty"}) or (bool(biases) and "fill" in inits)
    if (maps or biases) and learned_init:
        use = maps[0] if maps else biases[0]
        role = (f"used as a linear map of the input in {use.method}() (line {use.line})" if maps
                else f"added as the bias of a linear map in {use.method}() (line {use.line})")
        if signs:
            return [(Reason.of("E-LAYER-ROLE", f"{role}; {'; '.join(signs)}"), 0.85)], False
        return [(Reason.of("E-LAYER-ROLE", role), 0.6)], True
    if says and inits & {"random", "empty", "fill"}:
        return [(Reason.of("E-SAYS-TRAINABLE", "a comment or docstring calls it trainable"), 0.8)], False
    return [], False


def gather_evidence(attribute: str, tensors: list[Assignment], facts: ClassFacts,
                    siblings: frozenset[str] = frozenset()) -> Evidence:
    evidence = Evidence(parameter=[], buffer=[])

    def uses(*kinds: str) -> list[Use]:
        return _reaching(facts.uses_of(attribute, *kinds), tensors)

    trainable = bool(TRAINABLE_NAME.match(attribute))
    intent, weak = _layer_intent(attribute, tensors, facts, siblings)
    evidence.parameter += intent
    for assignment in tensors:
        info = assignment.info
        if info.lost_parameter and info.requires_grad:
            evidence.trains = Reason.of("E-LOST-PARAMETER",
                                        f"{info.source} returns a plain tensor whenever the device or dtype changes: the "
                                        f"Parameter is never registered or trained; the fix converts before wrapping")
        elif info.requires_grad:
            evidence.trains = Reason.of("E-REQUIRES-GRAD", f"created with requires_grad=True ({info.source})")
        elif info.requires_grad is False:
            evidence.buffer.append((Reason.of("E-NO-REQUIRES-GRAD", "created with requires_grad=False"), 0.8))
        if info.dtype in ("int", "bool"):
            evidence.integer = Reason.of("E-INTEGER", f"{info.dtype} dtype ({info.source}): a Parameter cannot hold it")
        if trainable and info.init in ("random", "empty"):
            evidence.parameter.append((Reason.of(
                "E-TRAINABLE-NAME", f"trainable name '{attribute}' with {info.init} init {info.source}"), 0.8))
        elif trainable and info.init == "fill":
            evidence.parameter.append((Reason.of(
                "E-TRAINABLE-NAME", f"trainable name '{attribute}' initialised like a scale/bias ({info.source})"), 0.75))
        elif not trainable and not intent and info.init in ("fill", "deterministic"):
            evidence.buffer.append((Reason.of("E-DETERMINISTIC", f"deterministic constructor {info.source}"), 0.8))
        if info.nn_init:
            evidence.parameter.append((Reason.of("E-NN-INIT", "initialised by a torch.nn.init function, like a weight"),
                                       0.9))
        if info.detached:
            evidence.buffer.append((Reason.of("E-DETACHED", "detached from autograd (.detach() / .data)"), 0.7))
        if assignment.in_no_grad:
            evidence.buffer.append((Reason.of("E-NO-GRAD-BLOCK", "created under torch.no_grad()"), 0.7))
    if uses("nn-init"):
        evidence.parameter.append((Reason.of("E-NN-INIT", "initialised with torch.nn.init like a weight"), 0.9))
    if uses("requires-grad-set"):
        evidence.trains = Reason.of("E-REQUIRES-GRAD",
                                    "requires_grad switched on with .requires_grad_() / .requires_grad = True")
    if uses("requires-grad-unset"):
        evidence.buffer.append((Reason.of("E-NO-REQUIRES-GRAD", "requires_grad switched off"), 0.8))
    if uses("grad-read"):
        evidence.parameter.append((Reason.of("E-GRAD-READ", ".grad is read"), 0.85))
    if CONSTANT_NAME.match(attribute):
        evidence.buffer.append((Reason.of("E-CONSTANT-NAME", f"constant-like name '{attribute}'"), 0.7))
    mutations = [u for u in uses("mutation", "data-mutation", "data-assignment") if u.method not in facts.init_methods]
    updates = [a for a in facts.assignments
               if a.attribute == attribute and a.method not in facts.init_methods and a.updates_itself]
    if mutations:
        first = mutations[0]
        evidence.stateful = f"mutated in place in {first.method}() (line {first.line})"
        evidence.buffer.append((Reason.of("E-RUNNING-STATE", evidence.stateful + ": running state"), 0.85))
    elif updates:
        evidence.stateful = f"updated from its own value in {updates[0].method}() (line {updates[0].line})"
        evidence.buffer.append((Reason.of("E-RUNNING-STATE", evidence.stateful + ": running state"), 0.85))
    if weak and evidence.parameter == intent and not evidence.trains:
        evidence.buffer.append((Reason.of("E-FIXED-PROJECTION", "nothing else in the class says it is trained: it may "
                                          "be a fixed projection"), 0.6))
    frozen = [a.info for a in tensors if a.info.frozen_parameter]
    replaced = any(a.attribute == attribute and a.method not in facts.init_methods for a in facts.assignments)
    if frozen and not evidence.stateful and not replaced:  # a frozen constant stays the Parameter it was written as
        evidence.trains = Reason.of("E-LOST-PARAMETER",
                                    f"{frozen[0].source} returns a plain tensor whenever the device or dtype changes: "
                                    "the frozen Parameter is never registered; the fix converts before wrapping")
    evidence.parameter = list(dict.fromkeys(evidence.parameter))  # two assignments, one piece of evidence
    evidence.buffer = list(dict.fromkeys(evidence.buffer))
    return evidence


def choose(evidence: Evidence, options: Options) -> tuple[str, str, float, list[Reason]]:
    """Proposed action, chosen action (``skip`` when ambiguous), confidence and reasons.

    An integer dtype settles it for a buffer (a Parameter cannot hold one) and an explicit request
    for gradients settles it for a Parameter; other evidence is weighed, and a conflict is ambiguous.
    """
    reasons = [reason for reason, _ in evidence.parameter + evidence.buffer]
    if evidence.integer:
        return "buffer", "buffer", 0.95, [evidence.integer, *reasons]
    if evidence.trains:
        return "parameter", "parameter", 0.95, [evidence.trains, *reasons]
    param_weights = [w for _, w in evidence.parameter]
    buffer_weights = [w for _, w in evidence.buffer]
    if param_weights and buffer_weights:
        proposed = "parameter" if max(param_weights) > max(buffer_weights) else "buffer"
        chosen = options.ambiguous if options.ambiguous != "skip" else "skip"
        return proposed, chosen, 0.5, [Reason.of("D-CONFLICT", "ambiguous: evidence for both Parameter and buffer"),
                                       *reasons]
    if param_weights:
        return "parameter", "parameter", _confidence(param_weights), reasons
    if buffer_weights:
        return "buffer", "buffer", _confidence(buffer_weights), reasons
    return "buffer", "buffer", 0.6, [Reason.of("E-NO-INTENT", "no evidence of intent to train: a buffer keeps every "
                                               "value and only makes the tensor follow the module")]


@dataclass
class _ClassView:
    """What every attribute of one class is decided against, worked out once per class."""

    facts: ClassFacts
    members: frozenset[str]  # defined by the class or a known base
    parameters: frozenset[str]  # registered as Parameters by the class or a known base
    registered: frozenset[str]  # registered as anything by the class or a known base
    aliases: dict[str, list[str]]  # what an assignment aliases -> the attributes assigned from it
    submodules: frozenset[str]
    inherited_reads: frozenset[str]  # ``self.X`` read by methods of known base classes
    inherited_registered: frozenset[str]  # registered by known base classes

    @classmethod
    def of(cls, facts: ClassFacts, index: ClassIndex) -> _ClassView:
        summary = facts.summary
        members, parameters, buffers = index.inherited(summary)
        aliases: dict[str, list[str]] = defaultdict(list)
        for a in facts.assignments:
            if a.info.is_tensor and a.info.alias_of and a.method in facts.init_methods:
                aliases[a.info.alias_of].append(a.attribute)
        return cls(facts=facts, members=summary.members | members, parameters=summary.parameters | parameters,
                   registered=summary.parameters | summary.buffers | parameters | buffers,
                   aliases=aliases,
                   submodules=frozenset(a.attribute for a in facts.assignments if a.info.kind == "module"),
                   inherited_reads=frozenset().union(*(c.reads for c in index.ancestors(summary))),
                   inherited_registered=parameters | buffers)


def _refusals(attribute: str, action: str, tensors: list[Assignment], others: list[Assignment],
              view: _ClassView) -> list[Reason]:
    """Reasons why rewriting would break the code (SPEC section 4); empty when it is safe."""
    facts, aliases = view.facts, view.aliases
    refusals: list[Reason] = []
    if attribute in view.members or attribute in MODULE_MEMBERS:
        refusals.append(Reason.of("R-MEMBER-NAME",
                                  f"'{attribute}' already exists as a class attribute, property or method "
                                  f"(register_buffer raises KeyError: attribute '{attribute}' already exists)"))
    if "__getattr__" in view.members:
        refusals.append(Reason.of("R-GETATTR",
                                  "the class defines __getattr__, so every register_buffer raises 'attribute already exists'"))
    if view.facts.layer_base and STANDARD_LAYER_TENSORS.match(attribute):
        refusals.append(Reason.of("R-LAYER-BASE",
                                  f"base class {view.facts.layer_base} may register '{attribute}' itself"))
    for use in facts.uses_of(attribute, "del"):
        refusals.append(Reason.of("R-DEL",
                                  f"'del self.{attribute}' in {use.method}() (line {use.line}): a later assignment "
                                  "would silently make it a plain attribute again"))
    for assignment in tensors:
        if assignment.shape != "plain":
            refusals.append(Reason.of("R-SHAPE",
                                      f"{assignment.shape} assignment at line {assignment.line} cannot be rewritten safely"))
        if assignment.before_super:
            refusals.append(Reason.of("R-BEFORE-SUPER",
                                      f"assigned before super().__init__() (line {assignment.line}): registration would raise "
                                      "AttributeError: cannot assign before Module.__init__() call"))
        info = assignment.info
        if info.on_cpu:
            refusals.append(Reason.of("R-ON-CPU", f"placed on the CPU on purpose (line {assignment.line})"))
        if info.alias_of and info.alias_of.startswith("self.") and info.alias_of != f"self.{attribute}":
            refusals.append(Reason.of("R-ALIAS-OF",
                                      f"alias of {info.alias_of}: the same tensor under two names comes apart on .to()"))
        if info.alias_of and not info.alias_of.startswith("self."):
            shared = sorted(set(aliases.get(info.alias_of, [])))
            if len(shared) > 1:
                refusals.append(Reason.of("R-SHARED-OBJECT", f"the same tensor object ({info.alias_of}) is stored as "
                                f"{', '.join('self.' + s for s in shared)}"))
        for ref in sorted(info.refs):
            head = ref.split(".")[0]
            if head in view.parameters or (head in view.submodules and "." in ref):
                refusals.append(Reason.of("R-PARAMETER-VIEW",
                                          f"derived from the registered Parameter self.{ref}: a view or expression of a "
                                          "Parameter must be computed in forward"))
                break
    for other in aliases.get(f"self.{attribute}", []):
        if other != attribute:
            refusals.append(Reason.of("R-ALIASED-BY",
                                      f"self.{other} is an alias of it: the two would come apart on .to()"))
    for assignment in others:
        if all(t.excludes(assignment) for t in tensors):
            continue  # on its own branch of an ``if``: that path never registers the name
        kind = assignment.info.kind
        where = f"in {assignment.method}() (line {assignment.line})"
        if kind in ("other", "module"):
            refusals.append(Reason.of("R-NON-TENSOR",
                                      f"also given a non-tensor value {where}: a buffer would raise TypeError"))
        elif kind == "possible" and assignment.method in facts.init_methods and not _derived_from_itself(
                attribute, assignment):
            refusals.append(Reason.of("R-UNTYPED-VALUE", f"also assigned a value nnreg cannot type {where}"))
        elif action == "parameter" and kind in ("tensor", "possible"):
            refusals.append(Reason.of("R-PLAIN-TENSOR",
                                      f"assigned a plain tensor {where}: PyTorch raises TypeError: cannot assign "
                                      "'torch.FloatTensor' as parameter"))
    if attribute not in view.registered and all(_derived_from_itself(attribute, a) for a in [*tensors, *others]):
        first = tensors[0]
        refusals.append(Reason.of("R-UNSEEN-ORIGIN",
                                  f"every assignment reads self.{attribute} first ({first.method}(), line {first.line}): "
                                  "it was set where nnreg cannot see (a base class, setattr, a name computed at run time), "
                                  "and register_buffer raises KeyError for a name that is already a plain attribute"))
    for use in facts.uses_of(attribute, ".numpy()", ".tolist()", ".cpu()"):
        refusals.append(Reason.of("R-CPU-USE",
                                  f"used on the CPU on purpose: {use.kind} in {use.method}() (line {use.line})"))
    for use in facts.after_init(attribute, "host")[:1]:
        refusals.append(Reason.of("R-HOST-READ",
                                  f"read as Python values on the host ({use.detail} in {use.method}(), line {use.line}): "
                                  "on a GPU every such read would wait for the device"))
    for use in facts.after_init(attribute, "default-device")[:1]:
        refusals.append(Reason.of("R-DEFAULT-DEVICE",
                                  f"combined with {use.detail}(...) made on the default device in {use.method}() "
                                  f"(line {use.line}): moved alone, it would meet a tensor on another device"))
    for use in facts.uses_of(attribute, "own-optimizer")[:1]:
        refusals.append(Reason.of("R-OWN-OPTIMIZER",
                                  f"trained by an optimizer of its own ({use.detail} in {use.method}(), line {use.line}): "
                                  "registered, the module's optimizer would update it too"))
    for use in facts.uses_of(attribute, "registered-view")[:1]:
        refusals.append(Reason.of("R-REGISTERED-VIEW",
                                  f"part of it is registered as '{use.detail}' in {use.method}() (line {use.line}): "
                                  "registering the whole would hold the same storage twice, and .to() would part them"))
    if any(a.info.partly_registered for a in tensors):
        refusals.append(Reason.of("R-PARTLY-REGISTERED",
                                  "one branch of the conditional expression is already registered: wrapping both would "
                                  "register that Parameter as a buffer; split it into an if statement by hand"))
    reads = facts.reads_after_init(attribute)
    if reads and all(u.method in facts.data_loading_methods for u in reads):
        refusals.append(Reason.of("R-DATA-LOADING",
                                  f"read only in {reads[0].method}(), which runs in data loading (a collate_fn or a "
                                  "torch.utils.data callback): the tensor must stay on the CPU there"))
    if action == "parameter":
        for use in facts.uses_of(attribute, "mutation"):
            if use.method not in facts.init_methods and not use.in_no_grad:
                refusals.append(Reason.of("R-INPLACE-LEAF",
                                          f"updated in place in {use.method}() (line {use.line}) outside torch.no_grad(): "
                                          "a leaf Variable that requires grad cannot be used in an in-place operation"))
    return list(dict.fromkeys(refusals))


def _derived_from_itself(attribute: str, assignment: Assignment) -> bool:
    """``self.t = self.t.to(device)``: a new value computed from the tensor itself."""
    return attribute in heads(assignment.info.refs)


def _warnings(attribute: str, action: str, persistent: bool, stateful: bool,
              tensors: list[Assignment]) -> list[Reason]:
    warnings: list[Reason] = []
    dtypes = {a.info.dtype for a in tensors}
    if "float64" in dtypes:
        warnings.append(Reason.of("W-FLOAT64",
                                  "warning: float64 tensor: .half()/.bfloat16()/.to(dtype) on the module now cast it "
                                  "(precision-critical tables may lose accuracy)"))
    elif dtypes & {"float", "complex"}:
        warnings.append(Reason.of("W-FLOAT-CAST",
                                  "warning: floating tensor: .half()/.bfloat16()/.to(dtype) on the module now cast it"))
    elif None in dtypes:
        warnings.append(Reason.of("W-MAYBE-FLOAT-CAST",
                                  "warning: if it is a floating tensor, .half()/.bfloat16()/.to(dtype) on the module now cast it"))
    if action == "parameter" or persistent:
        warnings.append(Reason.of("W-STATE-DICT-KEY",
                                  f"warning: adds state_dict key '{attribute}': old checkpoints fail load_state_dict(strict=True) "
                                  "with Missing key(s); load with strict=False or fill the key in a "
                                  "register_load_state_dict_pre_hook"))
    if action == "parameter" and not all(a.info.frozen_parameter for a in tensors):  # nothing trains a frozen one
        warnings.append(Reason.of("W-OPTIMIZER",
                                  "warning: the optimizer now trains it (weight decay applies); DDP may need "
                                  "find_unused_parameters=True if forward does not always use it"))
    if action == "buffer" and stateful:
        warnings.append(Reason.of("W-DDP-BROADCAST",
                                  "warning: DDP broadcasts buffers from rank 0 before every forward"))
    arguments = sorted({a.info.from_argument for a in tensors if a.info.from_argument})
    if arguments:
        warnings.append(Reason.of("W-CALLER-TENSOR",
                                  f"warning: the tensor comes from the caller (argument {arguments[0]}): after .to() the "
                                  "module holds its own copy"))
    return warnings


def _persistent(options: Options, stateful: bool) -> bool:
    if options.persistent == "always":
        return True
    if options.persistent == "never":
        return False
    return stateful


def _runtime_dtype(entry: dict[str, Any]) -> str:
    """The dtype kind the classifier uses for a dtype the probe saw (``int64`` -> ``int``)."""
    dtype = entry.get("dtype", "")
    return ("bool" if dtype == "bool" else "int" if "int" in dtype else "complex" if "complex" in dtype
            else "float64" if dtype == "float64" else "float")


def observed(assignment: Assignment, entry: dict[str, Any], init_methods: frozenset[str]) -> Assignment:
    """An assignment as the probe saw it. A value the static rules could not type in ``__init__`` is the
    tensor it was (unless its annotation admits a number: then it is a tensor only for some arguments;
    a 0-d one is a number); a tensor of unknown dtype gets the dtype it had."""
    info = assignment.info
    if info.kind == "possible" and info.rank0 is None and assignment.method in init_methods:
        return replace(assignment, info=replace(
            info, kind="tensor", dtype=_runtime_dtype(entry), requires_grad=entry.get("requires_grad") or None,
            source=f"a {entry.get('dtype', '')} tensor at run time", rank0="yes" if entry.get("shape") == [] else None))
    if info.is_tensor and info.dtype is None:
        return replace(assignment, info=replace(info, dtype=_runtime_dtype(entry)))
    return assignment


def typed_by_use(assignment: Assignment, use: Use, init_methods: frozenset[str]) -> Assignment:
    """An assignment in ``__init__`` of a value the static rules could not type (an argument, a call into
    another package), on an attribute the class calls a tensor-only method on (``self.x.unsqueeze(0)``,
    ``torch_facts.TENSOR_ONLY_METHODS``): that code fails unless the value is a tensor, so it is one. A
    known Python number stays a number."""
    info = assignment.info
    if info.kind != "possible" or info.rank0 == "yes" or assignment.method not in init_methods:
        return assignment
    words = f"a tensor by its use: .{use.detail}() in {use.method}() (line {use.line}) works on tensors only"
    return replace(assignment, info=replace(info, kind="tensor", source=f"a value used as a tensor ({info.source or 'untyped'})",
                                            typed_by_use=words))


def _registered_elsewhere_only(attribute: str, tensors: list[Assignment], assignments: list[Assignment],
                               view: _ClassView) -> bool:
    """``if bias: self.b = nn.Parameter(...) else: self.b = torch.zeros(...)``: the name is registered
    only on the other branch of an ``if``, so the plain tensor is still unregistered when it runs."""
    if attribute in view.inherited_registered or view.facts.uses_of(attribute, "register-call"):
        return False
    registrations = [a for a in assignments if a.info.kind == "registered"]
    return bool(registrations) and all(t.excludes(r) for t in tensors for r in registrations)


def _off_by_default(tensors: list[Assignment]) -> list[Reason]:
    """A buffer only the callers who pass non-default arguments get: the class built plainly holds no tensor."""
    if not all(a.off_by_default for a in tensors):
        return []
    return [Reason.of("D-OFF-BY-DEFAULT", f"a tensor only for arguments other than the defaults "
                                          f"({tensors[0].off_by_default}): the class built plainly holds no tensor here")]


def _doubts(attribute: str, assignments: list[Assignment], tensors: list[Assignment],
            view: _ClassView) -> list[Reason]:
    """Why rewriting would be a guess: the module may not need it, or the value is runtime state."""
    facts = view.facts
    doubts: list[Reason] = []
    if not facts.reads_after_init(attribute) and attribute not in view.inherited_reads:
        doubts.append(Reason.of("D-NEVER-READ", "never read outside __init__ in this class (its size aside): "
                                                "registering it changes nothing nnreg can see"))
    for use in [u for u in facts.uses_of(attribute, "read") if u.method == "get_extra_state"][:1]:
        doubts.append(Reason.of("D-EXTRA-STATE",
                                f"saved by the class itself: get_extra_state() reads it (line {use.line}), so "
                                "state_dict() already carries it and a persistent buffer would carry it twice"))
    ranks = {a.info.rank0 for a in tensors}
    if "maybe" in ranks and None not in ranks:
        doubts.append(Reason.of("D-MAYBE-0D",
                                "may be a 0-d tensor (built from an argument that accepts a Python number or defaults to a 0-d tensor, or "
                                "its only tensor operand is 0-d and nothing types the other): a 0-d "
                                "CPU tensor works next to tensors on any device, so registering may change nothing"))
    for a in assignments:  # a cache rebuilt behind ``if self.X is None or <too small>`` is a table, not per-call state
        if a.method not in facts.init_methods and attribute not in heads(a.info.every_path_refs) and not a.built_once:
            doubts.append(Reason.of("D-RUNTIME-STATE",
                                    f"runtime state: {a.method}() replaces it with a new value (line {a.line})"))
            break
    filled = _reaching(facts.uses_of(attribute, "mutation", "data-mutation", "data-assignment", "nn-init"), tensors)
    if all(a.info.init == "empty" for a in tensors) and not filled:
        doubts.append(Reason.of("D-UNINITIALISED",
                                "uninitialised memory (torch.empty / torch.Tensor(size)) that nothing fills: a placeholder, "
                                "not a value the module computes with"))
    for use in facts.uses_of(attribute, "by-name")[:1]:
        where = use.method if use.method.startswith("<") else f"{use.method}()"
        doubts.append(Reason.of("D-BY-NAME",
                                f"listed by name in {use.detail} ({where}, line {use.line}): code that saves or "
                                "moves attributes by name may manage it already"))
    for use in [u for u in facts.uses_of("*", "computed-registration") if attribute.startswith(u.detail)][:1]:
        doubts.append(Reason.of("D-COMPUTED-NAME",
                                f"{use.method}() registers tensors under names computed at run time (line {use.line}): "
                                "this attribute may be one of them"))
    return doubts


def _plain_number(attribute: str, tensors: list[Assignment], evidence: Evidence, facts: ClassFacts) -> bool:
    """A 0-d tensor, or a 1-d one only ever read one element at a time with a Python int, that nothing trains
    or updates: it combines with tensors on any device (PYTORCH-FACTS: 0-dim CPU tensors), like a number."""
    if evidence.trains or evidence.parameter or evidence.stateful:
        return False
    if {a.info.rank0 for a in tensors} == {"yes"}:
        return True
    if not all(a.info.vector for a in tensors):
        return False
    reads = facts.reads_after_init(attribute)
    indexed = {(u.method, u.line) for u in facts.uses_of(attribute, "number-index")}
    return bool(reads) and all((u.method, u.line) in indexed for u in reads)


def candidate_names(facts: ClassFacts) -> list[str]:
    """Attributes ``__init__`` sets to a tensor or to a value only the probe can type."""
    registered = facts.summary.parameters | facts.summary.buffers
    return sorted({a.attribute for a in facts.assignments if a.method in facts.init_methods
                   and a.info.kind in ("tensor", "possible") and a.attribute not in registered})


def decide_class(facts: ClassFacts, index: ClassIndex, options: Options, path: str,
                 runtime: dict[str, Any] | None = None) -> list[Finding]:
    """One finding per attribute that ``__init__`` (or a helper it calls) sets to a tensor.

    ``runtime`` is the probe's report for this class when ``--confirm`` ran: it confirms or refutes
    each static finding, and turns values the static rules could not type into findings.
    """
    view = _ClassView.of(facts, index)
    by_attribute: dict[str, list[Assignment]] = defaultdict(list)
    for assignment in facts.assignments:
        by_attribute[assignment.attribute].append(assignment)
    findings: list[Finding] = []
    for attribute, assignments in by_attribute.items():
        entry = (runtime or {}).get("attributes", {}).get(attribute)
        if entry and entry.get("kind") == "tensor":
            assignments = [observed(a, entry, facts.init_methods) for a in assignments]
        used = facts.uses_of(attribute, "tensor-method")
        if used:
            assignments = [typed_by_use(a, used[0], facts.init_methods) for a in assignments]
        tensors = [a for a in assignments if a.info.is_tensor and a.method in facts.init_methods]
        if not tensors and attribute not in view.registered:
            late = _lost_outside_init(attribute, assignments, view, options, path) or _late_state(
                attribute, assignments, view, options, path)
            findings += [late] if late is not None else []
            continue
        if not tensors or (attribute in view.registered and not _registered_elsewhere_only(attribute, tensors,
                                                                                            assignments, view)):
            continue
        nones = [a for a in assignments if a.info.kind == "none" and a.method in facts.init_methods]
        others = [a for a in assignments if a not in tensors and a not in nones and a.info.kind != "none"]
        finding = _decide_attribute(attribute, assignments, tensors, nones, others, view, options, path, runtime)
        if finding is not None:
            findings.append(finding)
    return findings


def silenced_by(assignments: list[Assignment], code: str) -> list[int]:
    """The lines of the comments that suppress ``code`` on any of the assignments (a finding is one
    decision for all its assignments, so one comment silences it); ``--warn-unused-suppressions`` reads them."""
    return sorted({s.line for a in assignments for s in a.suppressions if s.silences(code)})


def concluded(finding: Finding, assignments: list[Assignment], options: Options) -> Finding:
    """The finding with its status settled by the options, and the comment lines that suppress it."""
    finding.conclude(options)
    finding.suppressed_by = silenced_by(assignments, finding.code) if finding.status == "suppressed" else []
    return finding


def settle(reasons: list[Reason], code: str, confidence: float, changes_state_dict: bool, refusals: list[Reason],
            assignments: list[Assignment], options: Options, refuted: Reason | None = None) -> list[Reason]:
    """The last word on a finding, first match wins: suppressed by a comment on its line, refused as
    unsafe, refuted by what the probe observed, below ``--min-confidence``, or forbidden by ``--keep-state-dict``.
    Returns the reasons to add to ``reasons`` (which hold the finding's status: ``reasons.status_of``)."""
    if silenced_by(assignments, code):
        return [Reason.of("S-COMMENT", "suppressed by a comment on the line")]
    if refusals:  # a static reason to refuse is never replaced by what the probe saw
        return [replace(r, text=f"refused: {r.text}") for r in refusals]
    if refuted:
        return [refuted]
    if status_of(reasons, options) == "fixed" and confidence < options.min_confidence:
        return [Reason.of("D-MIN-CONFIDENCE",
                          f"confidence {confidence} is below --min-confidence {options.min_confidence}")]
    if status_of(reasons, options) == "fixed" and options.keep_state_dict and changes_state_dict:
        return [Reason.of("R-KEEP-STATE-DICT",
                          "refused: it would change the state_dict keys, which --keep-state-dict forbids")]
    return []


def _lost_outside_init(attribute: str, assignments: list[Assignment], view: _ClassView, options: Options,
                       path: str) -> Finding | None:
    """``self.mu = nn.Parameter(t).to(device)`` first assigned in ``fit()`` or a build method: on another
    device or dtype the Parameter is lost wherever the line is. Moving the conversion inside keeps the
    Parameter its author wrote, and assigning a Parameter registers it at any time. Per-call values
    (in ``forward`` and what it calls) stay alone."""
    facts = view.facts
    late = [a for a in assignments if a.method not in facts.init_methods and a.info.kind != "none"]
    if not late or any(a.method in facts.forward_methods or not a.info.lost_parameter or a.info.frozen_parameter
                       for a in late) or any(a.info.kind != "none" for a in assignments if a not in late):
        return None
    first = min(late, key=lambda a: (a.line, a.column))
    score = 0.9
    confidence = calibrated(score)
    reasons = [Reason.of("E-LOST-PARAMETER", f"nn.Parameter(...).{first.info.lost_parameter}(...) in {first.method}() "
                                             f"(line {first.line}) returns a plain tensor on another device or dtype: "
                                             "the Parameter is lost; converting inside keeps it registered")]
    refusals = _refusals(attribute, "parameter", late, [], view)
    reasons += settle(reasons, "NR001", confidence, True, refusals, late, options)
    reasons += _warnings(attribute, "parameter", False, False, late)
    class_name = facts.summary.qualname.rsplit(".", 1)[-1]
    edits = [Edit(a.statement, attribute, class_name, a.self_name, "parameter", False, move_conversion=True)
             for a in late] if status_of(reasons, options) == "fixed" else []
    finding = Finding(path=path, line=first.line, column=first.column, class_name=facts.summary.qualname,
                      attribute=attribute, code="NR001", action="parameter", persistent=None, confidence=confidence,
                      status="fixed", reasons=reasons, edits=edits, score=score)
    return concluded(finding, late, options)


def _late_state(attribute: str, assignments: list[Assignment], view: _ClassView, options: Options,
                path: str) -> Finding | None:
    """A tensor first assigned outside ``__init__``: a constant built once behind ``if self.X is None``,
    or state fitted by a method that ``forward`` does not call (``fit``, a task-end hook) and that
    ``forward`` reads. Declaring it in ``__init__`` as a buffer holding None registers it, and every later
    assignment then updates the buffer. Per-call values (assigned in ``forward`` every time) stay alone."""
    facts = view.facts
    init = [a for a in assignments if a.method in facts.init_methods]
    late = [a for a in assignments if a.method not in facts.init_methods and a.info.kind != "none"]
    if not late or any(not a.info.is_tensor for a in late) or any(a.info.kind != "none" for a in init):
        return None
    if {a.info.rank0 for a in late} == {"yes"}:
        return None  # 0-d: works next to tensors on any device, like a number
    built_once = all(a.built_once for a in late)
    fitted = all(a.method not in facts.forward_methods for a in late)
    tests = {(u.method, u.line) for u in facts.uses_of(attribute, "unset-test")}
    read = [u for u in facts.uses_of(attribute, "read") if u.method in facts.forward_methods
            and (u.method, u.line) not in tests]  # ``if self.X is None`` alone uses nothing
    if not (built_once or fitted) or not read:
        return None
    if built_once and any(a.info.kind == "none" for a in assignments if a.method not in facts.init_methods):
        return None  # set back to None later: a cache rebuilt per batch or episode, not a constant
    first = min(late, key=lambda a: (a.line, a.column))
    persistent = _persistent(options, stateful=not built_once)
    score = 0.8 if built_once else 0.75
    confidence = calibrated(score)
    if built_once:
        reasons = [Reason.of("E-BUILT-ONCE",
                             f"built once in {first.method}() (line {first.line}) behind a test that it is unset, and "
                             f"read by forward: declared in __init__ as a buffer holding None, later assignments fill it")]
    else:
        reasons = [Reason.of("E-FITTED-STATE",
                             f"state fitted in {first.method}() (line {first.line}) and read by {read[0].method}() "
                             f"(line {read[0].line}): declared in __init__ as a buffer holding None, later assignments "
                             f"fill it")]
    refusals = _refusals(attribute, "buffer", late, [], view)
    if not init and facts.super_init_line is None:
        refusals.append(Reason.of("R-NO-SUPER-INIT",
                                  "__init__ has no top-level super().__init__() line to declare it after"))
    for use in facts.uses_of(attribute, "looked-up-by-name")[:1]:
        refusals.append(Reason.of("R-LOOKED-UP", f"looked up with {use.detail}() in {use.method}() (line {use.line}): "
                                                 "declaring it would change what that finds"))
    if not built_once:  # fit() or reset_noise()? nothing certain says which: report, do not rewrite
        reasons.append(Reason.of("D-FITTED-OR-RUNTIME",
                                 "set by a method forward does not call: fitted state to register, or runtime state "
                                 "(per batch, per episode) to leave alone; nnreg cannot tell which"))
        if options.ambiguous == "buffer":
            reasons.append(Reason.of("E-OPTION", "--ambiguous buffer chose buffer"))
    reasons += settle(reasons, "NR002", confidence, persistent, refusals, late, options)
    reasons += _warnings(attribute, "buffer", persistent, not built_once, late)
    class_name = facts.summary.qualname.rsplit(".", 1)[-1]
    edits: list[Edit] = []
    if status_of(reasons, options) == "fixed":
        line, me = facts.super_init_line or (None, first.self_name)
        edits = [Edit(a.statement, attribute, class_name, a.self_name, "buffer", persistent) for a in init] or [
            Edit(line, attribute, class_name, me, "declare", persistent)]  # type: ignore[arg-type]
    finding = Finding(path=path, line=first.line, column=first.column, class_name=facts.summary.qualname,
                      attribute=attribute, code="NR002", action="buffer", persistent=persistent,
                      confidence=confidence, status="fixed", reasons=reasons, edits=edits, score=score)
    return concluded(finding, late, options)


def _runtime_evidence(evidence: Evidence, attribute: str,
                      report: dict[str, Any]) -> tuple[Reason | None, list[Reason]]:
    """Fold the probe's observations into the evidence; returns a refutation (if any) and notes."""
    if not report.get("built"):  # absence of evidence: the static decision stands
        return None, [Reason.of("X-NOT-BUILT", f"runtime: {report.get('error') or 'not built'}; the static decision "
                                               "stands")]
    entry = report.get("attributes", {}).get(attribute, {"kind": "absent"})
    if entry["kind"] in UNOBSERVED:
        return None, [Reason.of("X-UNOBSERVED", f"runtime: self.{attribute} was {entry['kind']} with the arguments "
                                                "the probe built with; the static decision stands")]
    if entry["kind"] != "tensor":
        return Reason.of("X-REFUTED", f"runtime: self.{attribute} is {entry['kind']}, not an unregistered tensor"), []
    traced = report.get("source") == "trace"
    seen = "the traced run saw a" if traced else "runtime: a"
    notes = [Reason.of("X-OBSERVED", f"{seen} {entry['dtype']} tensor of shape {entry['shape']} on {entry['device']}")]
    if attribute in report.get("left_behind", []):
        notes.append(Reason.of("X-LEFT-BEHIND",
                               f"runtime: forward ran with it on {entry['device']}, away from the module's own tensors"
                               if traced else f"runtime: stays on {entry['device']} after .to('{report['target']}')"))
    if report.get("forward_error"):
        notes.append(Reason.of("X-FORWARD-FAILED",
                               f"runtime: forward on {report['target']} failed: {report['forward_error']}"))
    if entry["dtype"] == "bool" or "int" in entry["dtype"]:
        evidence.integer = Reason.of("X-INTEGER", f"{entry['dtype']} dtype at run time: a Parameter cannot hold it")
    if entry.get("gets_grad") is False:
        evidence.buffer.append((Reason.of("X-NO-GRADIENT", "runtime: gets no gradient in forward, so it is not on a "
                                                           "differentiable path"), 0.9))
    if entry.get("mutated"):
        evidence.stateful = "runtime: changed in place " + ("while the traced run called the module" if traced
                                                              else "during forward")
        evidence.buffer.append((Reason.of("X-MUTATED", evidence.stateful + ": running state"), 0.85))
    return None, notes


def _decide_attribute(attribute: str, assignments: list[Assignment], tensors: list[Assignment],
                      nones: list[Assignment], others: list[Assignment], view: _ClassView, options: Options,
                      path: str, runtime: dict[str, Any] | None) -> Finding | None:
    """The finding for one attribute; None when the tensor behaves like a Python number."""
    facts = view.facts
    evidence = gather_evidence(attribute, tensors, facts, view.parameters - {attribute})
    if _plain_number(attribute, tensors, evidence, facts):
        return None
    refuted, runtime_notes = _runtime_evidence(evidence, attribute, runtime) if runtime is not None else (None, [])
    proposed, action, score, reasons = choose(evidence, options)
    reasons.extend(Reason.of("E-TENSOR-USE", words) for words in sorted({t.info.typed_by_use or "" for t in tensors}) if words)
    confidence = calibrated(score)
    effective = proposed if action == "skip" else action
    code = "NR001" if effective == "parameter" else "NR002"
    stateful = evidence.stateful is not None
    persistent = _persistent(options, stateful) if effective == "buffer" else None
    if options.ambiguous != "skip" and reasons[0].code == "D-CONFLICT":
        reasons.append(Reason.of("E-OPTION", f"--ambiguous {options.ambiguous} chose {action}"))
    refusals = _refusals(attribute, effective, tensors, others, view)
    if status_of(reasons, options) == "fixed":  # choose()'s verdict comes first: doubts only add to a sure one
        reasons.extend(_doubts(attribute, assignments, tensors, view))
        if effective == "buffer":  # a Parameter is its author's trainable tensor, whatever the flag
            reasons.extend(_off_by_default(tensors))
    reasons.extend(runtime_notes)
    reasons.extend(settle(reasons, code, confidence, action == "parameter" or bool(persistent), refusals, tensors,
                           options, refuted))
    reasons.extend(_warnings(attribute, effective, bool(persistent), stateful, tensors))
    first = min(tensors, key=lambda a: (a.line, a.column))
    edits: list[Edit] = []
    if status_of(reasons, options) == "fixed":
        rewritten = tensors + (nones if action == "buffer" else [])
        class_name = facts.summary.qualname.rsplit(".", 1)[-1]
        edits = [Edit(a.statement, attribute, class_name, a.self_name, action, bool(persistent),  # type: ignore[arg-type]
                      move_conversion=a.info.lost_parameter is not None) for a in rewritten]
    runtime_view = None
    if runtime is not None:
        runtime_view = {"attribute": runtime.get("attributes", {}).get(attribute), "target": runtime.get("target"),
                        "left_behind": attribute in runtime.get("left_behind", []),
                        "forward_error": runtime.get("forward_error"), "error": runtime.get("error"),
                        "python": runtime.get("python"), "torch": runtime.get("torch"),
                        "source": runtime.get("source", "probe")}
    finding = Finding(path=path, line=first.line, column=first.column, class_name=facts.summary.qualname,
                      attribute=attribute, code=code, action=action, persistent=persistent,  # type: ignore[arg-type]
                      confidence=confidence, status="fixed", reasons=reasons, edits=edits, score=score,
                      runtime=runtime_view)
    return concluded(finding, tensors, options)
