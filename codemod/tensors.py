"""Static, conservative classification of expressions: is this a tensor, and what kind?

Only names resolved through the file's import table count (``torch.zeros`` is a tensor factory only
when ``torch`` really is torch). Anything the rules cannot vouch for is ``possible``: it is reported
only when the runtime probe confirms it (SPEC section 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import libcst as cst

from .imports import ImportTable
from .torch_facts import (ALWAYS_0D, BROADCASTING, BUFFER_FACTORIES, CONVERSIONS, DETERMINISTIC, ELEMENTWISE, EMPTY,
                          FILL, FLOATING, FULL_REDUCTIONS, INPUT_TYPED_FUNCTIONS, INTEGER_RESULT, LAYER_TENSORS, LEGACY_TYPES,
                          MATRIX_REDUCTIONS, NAMED_FUNCTION_OWNERS, NON_FLOATING_DTYPES, NOT_TENSORS, NUMPY_ARRAYS,
                          PARAMETER_FACTORIES, RANDOM, TENSOR_ONLY_METHODS, TENSOR_SUBMODULES, TENSOR_TYPES,
                          VALUES_AND_INDICES, VARIABLE, function_gives, is_module_constructor, method_gives)

Kind = Literal["tensor", "possible", "none", "other", "registered", "module"]
Dtype = Literal["int", "bool", "float", "float64", "complex"]
Init = Literal["random", "empty", "fill", "deterministic"]
# Is the value 0-d (a tensor) or a plain number (anything else)? "maybe" when an argument accepts both.
Rank0 = Literal["yes", "maybe"]
BUILTIN_NUMBER_FUNCTIONS = frozenset({"float", "int", "bool", "round", "abs", "len", "complex"})

DTYPES: dict[str, Dtype] = {
    **{name: "int" for name in ("long", "int64", "int", "int32", "int16", "short", "int8", "uint8",
                                "uint16", "uint32", "uint64")},
    "bool": "bool", "float64": "float64", "double": "float64",
    **{name: "float" for name in ("float", "float32", "float16", "half", "bfloat16")},
    **{name: "complex" for name in ("complex64", "cfloat", "complex128", "cdouble", "complex32", "chalf")},
}
BUILTIN_DTYPES: dict[str, Dtype] = {"int": "int", "bool": "bool", "float": "float64", "complex": "complex"}
DTYPE_METHODS: dict[str, Dtype] = {"float": "float", "half": "float", "bfloat16": "float",
                                   "double": "float64", "long": "int", "int": "int", "short": "int",
                                   "char": "int", "byte": "int", "bool": "bool", "cfloat": "complex",
                                   "cdouble": "complex"}
VIEW_METHODS = frozenset({"view", "view_as", "t", "transpose", "permute", "expand", "expand_as",
                          "narrow", "squeeze", "unsqueeze", "select", "diagonal", "as_strided",
                          "unfold", "detach", "reshape", "flatten", "unflatten", "movedim"})
NON_TENSOR_ATTRIBUTES = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad",
                                   "grad_fn", "is_leaf", "layout", "names", "itemsize", "nbytes"})
VIEW_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "data", "real", "imag"})


@dataclass(frozen=True)
class ExprInfo:
    """What the static rules know about one expression."""

    kind: Kind
    source: str | None = None
    dtype: Dtype | None = None
    init: Init | None = None
    requires_grad: bool | None = None
    on_cpu: bool = False
    detached: bool = False
    alias_of: str | None = None
    from_argument: str | None = None
    refs: frozenset[str] = field(default_factory=frozenset)
    rank0: Rank0 | None = None
    vector: bool = False  # known to be 1-d (``arange``, ``linspace``, a flat list of numbers)
    partly_registered: bool = False  # ``a if c else nn.Parameter(b)``: one branch is registered already
    lost_parameter: str | None = None  # ``nn.Parameter(t).to(d)``: the conversion that loses the Parameter
    nn_init: bool = False  # returned by a ``torch.nn.init`` function, which fills its argument like a weight
    # ``self`` attributes read on every path to the value (None: the same as ``refs``); ``a if c else b``
    # keeps only those both branches read, so a replacement by a fresh value is not "derived from itself"
    anchors: frozenset[str] | None = None
    # a value nothing else types that the class calls a tensor-only method on: that use, in words
    typed_by_use: str | None = None

    @property
    def every_path_refs(self) -> frozenset[str]:
        return self.refs if self.anchors is None else self.anchors

    @property
    def frozen_parameter(self) -> bool:
        """``nn.Parameter(t, requires_grad=False).to(d)``: a lost Parameter nothing was meant to train."""
        return self.lost_parameter is not None and self.requires_grad is False

    @property
    def is_tensor(self) -> bool:
        return self.kind == "tensor"


POSSIBLE = ExprInfo("possible")
OTHER = ExprInfo("other")
NUMBER = ExprInfo("other", rank0="yes")


def merge_rank0(*ranks: Rank0 | None) -> Rank0 | None:
    """0-d only when every operand is; "maybe" as soon as one operand only may be."""
    if not ranks or None in ranks:
        return None
    return "maybe" if "maybe" in ranks else "yes"


@dataclass
class Scope:
    """Names visible while classifying expressions inside one method."""

    imports: ImportTable
    self_name: str
    tensor_args: frozenset[str] = frozenset()
    other_args: frozenset[str] = frozenset()
    number_args: dict[str, Rank0] = field(default_factory=dict)
    locals: dict[str, ExprInfo] = field(default_factory=dict)
    self_tensors: dict[str, ExprInfo] = field(default_factory=dict)
    self_numbers: dict[str, ExprInfo] = field(default_factory=dict)  # ``self.slope = slope`` (a number)
    self_modules: set[str] = field(default_factory=set)
    string_args: dict[str, str] = field(default_factory=dict)  # ``window="hann_window"``: the default
    # methods that prove a tensor here: less any a class of the scanned tree defines (``ClassIndex``)
    tensor_only_methods: frozenset[str] = TENSOR_ONLY_METHODS
    # why a function of the scanned tree (or ``self.m``) returns a tensor, or None (the class index)
    tree_returns: Callable[[str], str | None] = lambda callee: None

    def qualified(self, node: cst.BaseExpression) -> str | None:
        return self.imports.resolve(dotted(node))


def truth_operands(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The values whose truth a test combines: ``not x``, ``x and y``, ``x or y`` unwrapped."""
    pending, operands = [test], []
    while pending:
        node = pending.pop()
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            pending.append(node.expression)
        elif isinstance(node, cst.BooleanOperation):
            pending += [node.left, node.right]
        else:
            operands.append(node)
    return operands


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a pure Name/Attribute chain; None for calls, subscripts and the like."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def self_attribute(node: cst.BaseExpression, self_name: str) -> str | None:
    """``X`` for ``self.X``; None otherwise."""
    if (isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)
            and node.value.value == self_name):
        return node.attr.value
    return None


def self_chain(node: cst.BaseExpression, self_name: str) -> str | None:
    """``a.b`` for ``self.a.b``: the dotted path below ``self``."""
    name = dotted(node)
    if name and name.startswith(self_name + ".") and isinstance(node, cst.Attribute):
        return name[len(self_name) + 1 :]
    return None


_PROMOTION: tuple[Dtype, ...] = ("bool", "int", "float", "float64", "complex")


def _merge_dtype(*dtypes: Dtype | None) -> Dtype | None:
    """Result dtype of mixing tensors, None as soon as one dtype is unknown."""
    if not dtypes or None in dtypes:
        return None
    return max(dtypes, key=_PROMOTION.index)  # type: ignore[arg-type]


def _merge_init(a: Init | None, b: Init | None) -> Init | None:
    for kind in ("random", "empty"):
        if kind in (a, b):
            return kind  # type: ignore[return-value]
    if a is None or b is None:
        return None
    return "deterministic" if "deterministic" in (a, b) else "fill"


def _operand(info: ExprInfo) -> ExprInfo:
    """``nn.Parameter(x) * mask`` computes with the new Parameter: a float tensor that requires grad."""
    if info.kind != "registered":
        return info
    trains = True if info.source in PARAMETER_FACTORIES else None
    return ExprInfo("tensor", source=f"an expression on {info.source}(...)", requires_grad=trains, rank0=info.rank0)


def combine(a: ExprInfo, b: ExprInfo) -> ExprInfo:
    """Arithmetic of two operands, at least one of them a tensor."""
    a, b = _operand(a), _operand(b)
    tensors = [x for x in (a, b) if x.is_tensor]
    rank0 = merge_rank0(a.rank0, b.rank0)
    if not tensors:
        if rank0 is None and {a.rank0, b.rank0} == {"yes", None} and "possible" in (a.kind, b.kind):
            rank0 = "maybe"  # ``k - 1``: an unknown value in arithmetic with a number is likely a number
        return replace(POSSIBLE if "possible" in (a.kind, b.kind) else OTHER, rank0=rank0, refs=a.refs | b.refs,
                       anchors=a.every_path_refs | b.every_path_refs)
    first = tensors[0]
    if len(tensors) == 1 and first.rank0 == "yes" and rank0 is None and "possible" in (a.kind, b.kind):
        rank0 = "maybe"  # ``scale * torch.ones(())``: the only tensor is 0-d; nothing says the other operand is not
    other_init: Init | None = "deterministic" if b.kind == "other" or a.kind == "other" else None
    init = first.init
    for x in tensors[1:]:
        init = _merge_init(init, x.init)
    if len(tensors) == 1 and other_init is None:
        init = None  # an operand of unknown kind: the result is not a known constant
    merged_dtype = _merge_dtype(a.dtype, b.dtype) if len(tensors) == 2 else first.dtype
    vector = all(x.vector for x in tensors) and all(x.is_tensor or x.rank0 == "yes" for x in (a, b))
    return ExprInfo("tensor", source=first.source, dtype=merged_dtype, init=init,
                    requires_grad=a.requires_grad or b.requires_grad or None,
                    on_cpu=a.on_cpu or b.on_cpu, detached=all(x.detached for x in tensors),
                    refs=a.refs | b.refs, from_argument=a.from_argument or b.from_argument, rank0=rank0,
                    vector=vector, anchors=a.every_path_refs | b.every_path_refs)


def _literal_dtype(node: cst.BaseExpression) -> Dtype | None:
    """dtype torch infers for a literal (``torch.tensor([1, 2])`` is int64)."""
    if isinstance(node, (cst.List, cst.Tuple)):
        return _merge_dtype(*(_literal_dtype(e.value) for e in node.elements))
    if isinstance(node, cst.UnaryOperation):
        return _literal_dtype(node.expression)
    if isinstance(node, cst.Integer):
        return "int"
    if isinstance(node, cst.Float):
        return "float"
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return "bool"
    return None


def _dtype_of(node: cst.BaseExpression, scope: Scope) -> Dtype | None:
    qualified = scope.qualified(node)
    if qualified and qualified.startswith("torch."):
        return DTYPES.get(qualified[len("torch."):])
    if isinstance(node, cst.Name) and not scope.imports.is_bound(node.value):
        return BUILTIN_DTYPES.get(node.value)
    return None


def keyword_argument(call: cst.Call, name: str) -> cst.BaseExpression | None:
    """The value passed as ``name=...``, if any."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def _is_cpu(node: cst.BaseExpression | None, scope: Scope) -> bool:
    if node is None:
        return False
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value in ("cpu",) or str(node.evaluated_value).startswith("cpu:")
    if isinstance(node, cst.Call) and scope.qualified(node.func) == "torch.device" and node.args:
        return _is_cpu(node.args[0].value, scope)
    return False


def _bool_literal(node: cst.BaseExpression | None) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _call_options(call: cst.Call, scope: Scope, info: ExprInfo) -> ExprInfo:
    """Apply ``dtype=``, ``requires_grad=`` and ``device=`` keywords of a creating call."""
    dtype_node = keyword_argument(call, "dtype")
    if dtype_node is not None:
        info = replace(info, dtype=_dtype_of(dtype_node, scope))
    requires_grad = _bool_literal(keyword_argument(call, "requires_grad"))
    if requires_grad is not None:
        info = replace(info, requires_grad=requires_grad)
    if _is_cpu(keyword_argument(call, "device"), scope):
        info = replace(info, on_cpu=True)
    return info


@dataclass(frozen=True)
class _Arguments:
    """A call's arguments, each classified once (classifying is recursive: doing it once per question
    would cost exponential time in the nesting depth)."""

    positional: list[tuple[cst.BaseExpression, ExprInfo]]
    first_tensor: ExprInfo | None
    refs: frozenset[str]

    @classmethod
    def of(cls, call: cst.Call, scope: Scope) -> _Arguments:
        positional: list[tuple[cst.BaseExpression, ExprInfo]] = []
        first_tensor: ExprInfo | None = None
        refs: set[str] = set()
        for arg in call.args:
            info = classify(arg.value, scope)
            refs |= info.refs
            if arg.keyword is not None:
                continue
            positional.append((arg.value, info))
            if first_tensor is None and info.is_tensor:
                first_tensor = info
            elif first_tensor is None and isinstance(arg.value, (cst.List, cst.Tuple)):
                first_tensor = next((inner for inner in (classify(e.value, scope) for e in arg.value.elements)
                                     if inner.is_tensor), None)
        return cls(positional, first_tensor, frozenset(refs))

    @property
    def only(self) -> ExprInfo | None:
        """The single positional argument's classification, if there is exactly one."""
        return self.positional[0][1] if len(self.positional) == 1 else None


def _refs_of_args(call: cst.Call, scope: Scope) -> frozenset[str]:
    refs: set[str] = set()
    for arg in call.args:
        refs |= classify(arg.value, scope).refs
    return frozenset(refs)


def _torch_function(name: str, call: cst.Call, scope: Scope) -> ExprInfo:
    """A call of ``torch.<name>`` (or a torch submodule function) known to return a tensor."""
    source = f"torch.{name}"
    args = _Arguments.of(call, scope)
    refs = args.refs
    returns = function_gives(source, len(args.positional), any(a.keyword is not None for a in call.args))
    if returns != "tensor":
        return ExprInfo("other", source=source, refs=refs) if returns in ("tuple", "not_tensor") else replace(
            POSSIBLE, refs=refs)
    short = name.rsplit(".", 1)[-1]
    if short in LEGACY_TYPES and "." not in name:
        init: Init = "empty" if _sizes_only(call, args, scope) else "deterministic"
        return ExprInfo("tensor", source=source, dtype=LEGACY_TYPES[short], init=init, refs=refs)
    arg = args.first_tensor
    if short in RANDOM:
        info = ExprInfo("tensor", source=source, init="random", refs=refs,
                        dtype="int" if short in INTEGER_RESULT else (arg.dtype if arg else "float"))
    elif short in EMPTY:
        info = ExprInfo("tensor", source=source, init="empty", dtype=arg.dtype if arg else "float", refs=refs)
    elif short in FILL:
        fill = call.args[1].value if short == "full" and len(call.args) > 1 else None
        dtype = arg.dtype if short.endswith("_like") and arg else (_literal_dtype(fill) if fill else "float")
        info = ExprInfo("tensor", source=source, init="fill", dtype=dtype, refs=refs)
    elif short in DETERMINISTIC:
        info = _deterministic(short, call, scope, args, source)
    elif short in INTEGER_RESULT:
        info = ExprInfo("tensor", source=source, dtype="int", init=arg.init if arg else None, refs=refs)
    elif short in FLOATING or name.startswith(TENSOR_SUBMODULES):
        dtype = arg.dtype if arg and arg.dtype in ("float64", "complex") else "float"
        info = ExprInfo("tensor", source=source, dtype=dtype, init=arg.init if arg else None, refs=refs,
                        requires_grad=arg.requires_grad if arg else None)
    else:  # SAME_DTYPE: the result follows the first tensor argument
        info = ExprInfo("tensor", source=source, dtype=arg.dtype if arg else None,
                        init=arg.init if arg else None, refs=refs,
                        requires_grad=arg.requires_grad if arg else None,
                        detached=arg.detached if arg else False, on_cpu=arg.on_cpu if arg else False)
    elementwise = args.only if short in ELEMENTWISE else None
    vector = short in ("arange", "linspace", "logspace", "randperm") or bool(elementwise and elementwise.vector)
    return _call_options(call, scope, replace(info, rank0=_result_rank0(short, call, args, info), vector=vector))


def _result_rank0(short: str, call: cst.Call, args: _Arguments, info: ExprInfo) -> Rank0 | None:
    """0-d results: a full reduction, an elementwise function of a 0-d tensor, ``scalar_tensor`` and
    ``trace``; the determinant of a matrix (0-d unless the argument is a batch of matrices)."""
    if short in ALWAYS_0D or (short in FILL | RANDOM | EMPTY and _empty_size(call, short)):
        return "yes"
    if short in MATRIX_REDUCTIONS and args.only:
        return "maybe"
    if short in FULL_REDUCTIONS and args.only and keyword_argument(call, "dim") is None:
        return "yes"
    if short in ELEMENTWISE and args.only:
        return args.only.rank0
    if short in BROADCASTING and args.positional and all(arg.keyword is None or arg.keyword.value in _OPTIONS
                                                           for arg in call.args):
        return "yes" if all(operand.rank0 == "yes" for _, operand in args.positional) else info.rank0
    return info.rank0


_OPTIONS = frozenset({"dtype", "device", "requires_grad"})  # keywords that do not change a result's shape


def _empty_size(call: cst.Call, short: str) -> bool:
    """``torch.ones(torch.Size([]))``, ``torch.zeros(())``, ``torch.full([], 2.0)``: the size is empty, so 0-d."""
    if short.endswith("_like") or short in ("randint", "normal", "bernoulli", "multinomial", "poisson", "randperm"):
        return False
    sizes = [a.value for a in call.args if a.keyword is None][:1] or [keyword_argument(call, "size")]
    size = sizes[0]
    if isinstance(size, cst.Call) and dotted(size.func) in ("torch.Size", "Size") and len(size.args) == 1:
        size = size.args[0].value
    return isinstance(size, (cst.Tuple, cst.List)) and not size.elements


def _sizes_only(call: cst.Call, args: _Arguments, scope: Scope) -> bool:
    """``torch.Tensor(3, 4)`` or ``torch.FloatTensor(x.shape)`` allocate without filling; given data
    (a list, a tensor, an array) the legacy constructors copy it."""
    if args.only is None:
        return bool(args.positional)
    first = args.positional[0][0]
    starred = any(a.star for a in call.args if a.keyword is None)
    if starred or args.only.rank0 is not None:
        return True
    if isinstance(first, cst.Attribute) and first.attr.value == "shape":
        return True
    return (isinstance(first, cst.Call) and isinstance(first.func, cst.Attribute)
            and first.func.attr.value == "size") or scope.qualified(getattr(first, "func", first)) == "torch.Size"


def _deterministic(short: str, call: cst.Call, scope: Scope, args: _Arguments, source: str) -> ExprInfo:
    first = call.args[0].value if call.args else None
    arg, refs = args.first_tensor, args.refs
    dtype: Dtype | None
    if short in ("tril", "triu"):
        dtype = arg.dtype if arg else None
        init = arg.init if arg else None
        return ExprInfo("tensor", source=source, dtype=dtype, init=init, refs=refs,
                        requires_grad=arg.requires_grad if arg else None)
    if short in ("tensor", "as_tensor", "asarray"):
        dtype = _literal_dtype(first) if first is not None else None
        if arg is not None:
            return replace(arg, source=source, refs=refs, alias_of=None)
        rank0 = args.positional[0][1].rank0 if args.positional and args.positional[0][0] is first else None
        vector = isinstance(first, (cst.List, cst.Tuple)) and all(
            isinstance(e.value, (cst.Integer, cst.Float)) or classify(e.value, scope).rank0 == "yes"
            for e in first.elements)
        return ExprInfo("tensor", source=source, dtype=dtype, init="deterministic", refs=refs, rank0=rank0,
                        vector=vector)
    elif short in ("arange", "range"):
        positional = [a.value for a in call.args if a.keyword is None]
        kinds = {_literal_dtype(a) for a in positional}
        dtype = "float" if "float" in kinds else ("int" if kinds == {"int"} else None)
    elif short in ("tril_indices", "triu_indices"):
        dtype = "int"
    elif short == "from_numpy":
        dtype = None
    else:
        dtype = "float"
    return ExprInfo("tensor", source=source, dtype=dtype, init="deterministic", refs=refs)


def classify_call(call: cst.Call, scope: Scope) -> ExprInfo:
    qualified = scope.qualified(call.func) or _named_by_default(call.func, scope)
    if qualified:
        if qualified in PARAMETER_FACTORIES or qualified in BUFFER_FACTORIES:
            inner = classify(call.args[0].value, scope) if call.args else POSSIBLE
            return ExprInfo("registered", source=qualified, rank0=inner.rank0)
        if qualified.startswith(("numpy.", "math.")) or qualified in NOT_TENSORS:
            numbers = [classify(a.value, scope).rank0 for a in call.args if a.keyword is None]
            arrays = qualified.startswith("numpy.") and (qualified.split(".")[1] == "random"
                                                          or qualified.rsplit(".", 1)[-1] in NUMPY_ARRAYS)
            rank0 = merge_rank0(*numbers) if qualified.startswith(("numpy.", "math.")) and numbers and not arrays \
                else None
            return ExprInfo("other", source=qualified, rank0=rank0)
        if qualified in INPUT_TYPED_FUNCTIONS:
            inner = classify(call.args[0].value, scope) if call.args else POSSIBLE
            refs = _refs_of_args(call, scope)
            return ExprInfo("tensor", source=qualified, dtype=inner.dtype, init=inner.init, refs=refs,
                            requires_grad=inner.requires_grad) if inner.is_tensor else replace(POSSIBLE, refs=refs)
        if qualified in VARIABLE:
            inner = classify(call.args[0].value, scope) if call.args else POSSIBLE
            return _call_options(call, scope, replace(inner, source=qualified)) if inner.is_tensor else inner
        if qualified.startswith("torch.nn.init."):  # nn.init functions fill their argument and return it
            inner = classify(call.args[0].value, scope) if call.args else POSSIBLE
            return replace(inner, init="random", nn_init=True, alias_of=None) if inner.is_tensor else inner
        if qualified.startswith("torch.nn.functional."):
            return _torch_function("nn.functional." + qualified.rsplit(".", 1)[-1], call, scope)
        if is_module_constructor(qualified):
            return ExprInfo("module", source=qualified)
        if qualified.startswith("torch."):
            return _torch_function(qualified[len("torch."):], call, scope)
        return _tree_call(qualified, call, scope)
    if isinstance(call.func, cst.Attribute):
        return _method_call(call, scope)
    if (isinstance(call.func, cst.Name) and call.func.value in BUILTIN_NUMBER_FUNCTIONS
            and not scope.imports.is_bound(call.func.value)):
        return replace(NUMBER, refs=_refs_of_args(call, scope))
    return replace(POSSIBLE, refs=_refs_of_args(call, scope))


def _tree_call(callee: str, call: cst.Call, scope: Scope) -> ExprInfo:
    """A function of the scanned tree: a tensor when the class index types its returns."""
    refs = _refs_of_args(call, scope)
    source = scope.tree_returns(callee)
    return ExprInfo("tensor", source=source, refs=refs) if source else replace(POSSIBLE, refs=refs)


def _method_call(call: cst.Call, scope: Scope) -> ExprInfo:
    method = call.func.attr.value  # type: ignore[attr-defined]
    if isinstance(call.func.value, cst.Name) and call.func.value.value == scope.self_name:  # type: ignore[attr-defined]
        return _tree_call(f"self.{method}", call, scope)
    receiver = classify(call.func.value, scope)  # type: ignore[attr-defined]
    if receiver.kind == "registered":
        return _on_registered(method, call, receiver, scope)
    if receiver.lost_parameter:
        return replace(POSSIBLE, refs=receiver.refs)  # a chain of conversions: left to a person
    if method == "item":
        return replace(NUMBER, refs=receiver.refs)
    if receiver.kind == "possible":
        receiver = _typed_by_method(method, call, receiver, scope)
    if not receiver.is_tensor:
        arguments = _refs_of_args(call, scope)
        return replace(POSSIBLE, refs=receiver.refs | arguments, anchors=receiver.every_path_refs | arguments)
    returns = method_gives(method, bool(call.args))
    if returns in ("not_tensor", "tuple"):
        return ExprInfo("other", source=f".{method}()")
    if returns != "tensor":
        return replace(POSSIBLE, refs=receiver.refs)
    alias = receiver.alias_of if method in VIEW_METHODS else None
    no_arguments = not call.args
    rank0 = ("yes" if method in FULL_REDUCTIONS and no_arguments
             else receiver.rank0 if method in ELEMENTWISE else None)
    info = replace(receiver, alias_of=alias, refs=receiver.refs | _refs_of_args(call, scope), rank0=rank0,
                   vector=receiver.vector and method in ELEMENTWISE)
    if method in DTYPE_METHODS:
        return replace(info, dtype=DTYPE_METHODS[method])
    if method in ("to", "type"):
        for arg in call.args:
            if arg.keyword is None or arg.keyword.value == "dtype":
                dtype = _dtype_of(arg.value, scope)
                if dtype:
                    info = replace(info, dtype=dtype)
            if (arg.keyword is None or arg.keyword.value == "device") and _is_cpu(arg.value, scope):
                info = replace(info, on_cpu=True)
        return info
    if method == "cpu":
        return replace(info, on_cpu=True)
    if method in ("detach", "detach_"):
        return replace(info, detached=True, requires_grad=False)
    if method == "requires_grad_":
        flag = _bool_literal(call.args[0].value) if call.args else True
        return replace(info, requires_grad=True if flag is None else flag)
    if method in ("argsort", "argmax", "argmin", "nonzero"):
        return replace(info, dtype="int")
    return info


def _to_non_floating(call: cst.Call, scope: Scope) -> bool:
    """``x.to(torch.bool)``, ``x.to(dtype=torch.long)``: nn.Module.to() refuses these dtypes."""
    return any((arg.keyword is None or arg.keyword.value == "dtype") and scope.qualified(arg.value) in NON_FLOATING_DTYPES
               for arg in call.args)


def _typed_by_method(method: str, call: cst.Call, receiver: ExprInfo, scope: Scope) -> ExprInfo:
    """``mask.unsqueeze(1)``, ``mask.to(torch.bool)`` on a value nothing types: only a tensor has that method
    (``torch_facts.TENSOR_ONLY_METHODS``) or takes that dtype (``NON_FLOATING_DTYPES``), so the call works only
    on a tensor, and returns one."""
    if method == "to" and _to_non_floating(call, scope):
        return replace(receiver, kind="tensor", source="a value used as a tensor (.to(dtype))", alias_of=None,
                       typed_by_use="a tensor by its use: .to() a non-floating dtype works on tensors only")
    if method not in scope.tensor_only_methods or method_gives(method, bool(call.args)) != "tensor":
        return receiver
    words = f"a tensor by its use: .{method}() works on tensors only"
    return replace(receiver, kind="tensor", source=f"a value used as a tensor (.{method}())", typed_by_use=words,
                   alias_of=None)


# Conversions that return the tensor itself when it already has that dtype: "float" is the default floating
# dtype (float32 unless torch.set_default_dtype changed it), "float64" is double.
SAME_DTYPE = {"float": "float", "double": "float64"}


def _on_registered(method: str, call: cst.Call, receiver: ExprInfo, scope: Scope) -> ExprInfo:
    """A method called on a new ``nn.Parameter(...)``/``nn.Buffer(...)``: in-place methods return the
    same registered object; a conversion of a Parameter returns a plain tensor (the Parameter is lost)."""
    if method.endswith("_") and not method.startswith("_"):
        return receiver
    if method in CONVERSIONS and receiver.source in PARAMETER_FACTORIES and isinstance(call.func, cst.Attribute) \
            and isinstance(call.func.value, cst.Call):
        parameter = call.func.value
        wrapped = parameter.args[0].value if parameter.args else None
        if wrapped is not None and method in SAME_DTYPE and SAME_DTYPE[method] == classify(wrapped, scope).dtype:
            return receiver  # ``nn.Parameter(torch.randn(3)).float()``: already float32, so the same Parameter
        flag = keyword_argument(parameter, "requires_grad")
        if flag is None and len(parameter.args) > 1 and parameter.args[1].keyword is None:
            flag = parameter.args[1].value  # ``nn.Parameter(t, False)``
        # ``nn.Parameter(t, requires_grad=False)`` is frozen state, not a weight: lost, it wants a buffer
        trains = _bool_literal(flag) is not False
        return ExprInfo("tensor", source=f"{receiver.source}(...).{method}()", requires_grad=trains,
                        rank0=receiver.rank0, lost_parameter=f".{method}()", refs=_refs_of_args(call, scope))
    return replace(POSSIBLE, refs=_refs_of_args(call, scope))


def _classify_name(node: cst.Name, scope: Scope) -> ExprInfo:
    name = node.value
    if name == "None":
        return ExprInfo("none")
    if name in ("True", "False"):
        return OTHER
    if name in scope.locals:
        info = scope.locals[name]
        return replace(info, alias_of=f"local variable {name}") if info.is_tensor else info
    return argument_info(name, scope) or POSSIBLE


def argument_info(name: str, scope: Scope) -> ExprInfo | None:
    """What a method argument holds on entry: a tensor when annotated as one; None for non-arguments."""
    if name in scope.tensor_args:
        return ExprInfo("tensor", source=f"argument {name}", from_argument=name, alias_of=f"argument {name}",
                        rank0=scope.number_args.get(name))
    if name in scope.other_args:
        return replace(POSSIBLE, rank0=scope.number_args.get(name))
    return None


def _classify_attribute(node: cst.Attribute, scope: Scope) -> ExprInfo:
    chain = self_chain(node, scope.self_name)
    if chain in scope.self_tensors:
        return replace(scope.self_tensors[chain], refs=frozenset({chain}), alias_of=f"self.{chain}")
    if chain in scope.self_numbers:
        return replace(scope.self_numbers[chain], refs=frozenset({chain}), alias_of=None)
    if chain is not None:
        head, _, rest = chain.partition(".")
        if rest and chain.rsplit(".", 1)[1] in NON_TENSOR_ATTRIBUTES:
            return OTHER  # self.p.shape, self.p.device: metadata, not the tensor
        if head in scope.self_modules and rest in LAYER_TENSORS:
            return ExprInfo("tensor", source=f"self.{chain}", refs=frozenset({chain}), alias_of=f"self.{chain}")
        return ExprInfo("possible", refs=frozenset({chain}), alias_of=f"self.{chain}")
    qualified = scope.qualified(node)
    if qualified and qualified.startswith("torch."):
        return OTHER  # dtypes, constants such as torch.pi, modules
    field_of = _named_tuple_field(node, scope)
    if field_of is not None:
        return field_of
    receiver = classify(node.value, scope)
    if receiver.is_tensor:
        if node.attr.value in NON_TENSOR_ATTRIBUTES:
            return OTHER
        if node.attr.value in VIEW_ATTRIBUTES:
            return replace(receiver, detached=receiver.detached or node.attr.value == "data")
    return replace(POSSIBLE, refs=receiver.refs)


def _named_tuple_field(node: cst.Attribute, scope: Scope) -> ExprInfo | None:
    """``torch.sort(x).values``, ``x.topk(k).indices``: a field of the named tuple these return is a tensor."""
    return values_or_indices(node.value, node.attr.value, scope)


def _tuple_item(node: cst.Subscript, scope: Scope) -> ExprInfo | None:
    """``x.sort(dim=0)[0]``, ``torch.max(x, 1)[1]``: items 0 and 1 of that named tuple are its fields."""
    index = node.slice[0].slice if len(node.slice) == 1 else None
    if not (isinstance(index, cst.Index) and isinstance(index.value, cst.Integer) and index.value.value in ("0", "1")):
        return None
    return values_or_indices(node.value, ("values", "indices")[int(index.value.value)], scope)


def values_or_indices(call: cst.BaseExpression, field_name: str, scope: Scope) -> ExprInfo | None:
    """A field of the ``(values, indices)`` named tuple of ``sort``/``topk``/``max(dim)`` & co, or None."""
    if field_name not in ("values", "indices") or not isinstance(call, cst.Call):
        return None
    qualified = scope.qualified(call.func) or ""
    if qualified.startswith("torch.") and qualified[len("torch."):] in VALUES_AND_INDICES:
        name = qualified
    elif isinstance(call.func, cst.Attribute) and call.func.attr.value in VALUES_AND_INDICES \
            and classify(call.func.value, scope).is_tensor:
        name = f"Tensor.{call.func.attr.value}"
    else:
        return None
    return ExprInfo("tensor", source=f"{name}(...).{field_name}", dtype="int" if field_name == "indices" else None,
                    refs=_refs_of_args(call, scope))


def _named_by_default(func: cst.BaseExpression, scope: Scope) -> str | None:
    """``getattr(torch, window)`` with ``window="hann_window"`` by default: ``torch.hann_window`` for
    the default call (the one a labeller, and a user building the class plainly, gets)."""
    if not (isinstance(func, cst.Call) and isinstance(func.func, cst.Name) and func.func.value == "getattr"
            and not scope.imports.is_bound("getattr") and len(func.args) == 2
            and isinstance(func.args[1].value, cst.Name) and func.args[1].value.value in scope.string_args):
        return None
    owner = scope.qualified(func.args[0].value)
    return f"{owner}.{scope.string_args[func.args[1].value.value]}" if owner in NAMED_FUNCTION_OWNERS else None


def _is_int(node: cst.BaseExpression) -> bool:
    """``1`` or ``-1``: an integer literal, as an index."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        node = node.expression
    return isinstance(node, cst.Integer)


def classify(node: cst.BaseExpression, scope: Scope) -> ExprInfo:
    """Classify one expression; never raises, unknown shapes are ``possible``."""
    if isinstance(node, cst.Name):
        return _classify_name(node, scope)
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)):
        return NUMBER
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString,
                         cst.FormattedString, cst.Dict, cst.Set, cst.List, cst.Tuple, cst.ListComp,
                         cst.DictComp, cst.SetComp, cst.GeneratorExp, cst.Lambda)):
        return OTHER
    if isinstance(node, cst.Call):
        return classify_call(node, scope)
    if isinstance(node, cst.Attribute):
        return _classify_attribute(node, scope)
    if isinstance(node, cst.Subscript):  # a view, not the same object, and of another shape
        field = _tuple_item(node, scope)
        if field is not None:
            return field
        receiver = classify(node.value, scope)
        element = len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) and _is_int(
            node.slice[0].slice.value)
        if receiver.is_tensor:  # one element of a 1-d tensor is 0-d
            return replace(receiver, alias_of=None, rank0="yes" if receiver.vector and element else None,
                           vector=False)
        return replace(POSSIBLE, refs=receiver.refs, rank0="maybe" if element else None,
                       anchors=receiver.every_path_refs)
    if isinstance(node, cst.BinaryOperation):
        left, right = classify(node.left, scope), classify(node.right, scope)
        merged = combine(left, right)
        floating = isinstance(node.operator, cst.Divide) or isinstance(node.left, cst.Float) or isinstance(
            node.right, cst.Float)
        if merged.is_tensor and floating and merged.dtype in ("int", "bool"):
            merged = replace(merged, dtype="float")
        return merged
    if isinstance(node, cst.UnaryOperation):
        if isinstance(node.operator, cst.Not):
            return OTHER
        inner = classify(node.expression, scope)
        return replace(inner, alias_of=None)
    if isinstance(node, cst.Comparison):
        infos = [classify(node.left, scope)] + [classify(c.comparator, scope) for c in node.comparisons]
        identity = any(isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for c in node.comparisons)
        tensors = [i for i in infos if i.is_tensor]
        if tensors and not identity:
            return replace(tensors[0], dtype="bool", alias_of=None,
                           refs=frozenset().union(*(i.refs for i in infos)))
        return OTHER if identity else POSSIBLE
    if isinstance(node, cst.IfExp):
        when_true, when_false = tensor_tests(node.test, scope)
        return merge_branches(_narrowed(node.body, when_true, scope), _narrowed(node.orelse, when_false, scope))
    return POSSIBLE


def tensor_tests(test: cst.BaseExpression, scope: Scope) -> tuple[frozenset[str], frozenset[str]]:
    """Names a test proves to be tensors when it is true, and when it is false: ``isinstance(x,
    torch.Tensor)``, ``torch.is_tensor(x)``, ``type(x) is torch.Tensor`` (or ``==``), and their
    negations (``not ...``, ``is not``, ``!=``). Python's own narrowing, as a type checker reads it."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        when_true, when_false = tensor_tests(test.expression, scope)
        return when_false, when_true
    if isinstance(test, cst.Call) and len(test.args) in (1, 2) and isinstance(test.args[0].value, cst.Name):
        name = test.args[0].value.value
        builtin = dotted(test.func) if scope.qualified(test.func) is None else None  # not rebound by an import
        if builtin == "isinstance" and len(test.args) == 2 and scope.qualified(test.args[1].value) in TENSOR_TYPES:
            return frozenset({name}), frozenset()
        if len(test.args) == 1 and scope.qualified(test.func) == "torch.is_tensor":
            return frozenset({name}), frozenset()
    if (isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Call)
            and dotted(test.left.func) == "type" and scope.qualified(test.left.func) is None and len(test.left.args) == 1
            and isinstance(test.left.args[0].value, cst.Name)
            and scope.qualified(test.comparisons[0].comparator) in TENSOR_TYPES):
        name = frozenset({test.left.args[0].value.value})
        operator = test.comparisons[0].operator
        if isinstance(operator, (cst.Is, cst.Equal)):
            return name, frozenset()
        if isinstance(operator, (cst.IsNot, cst.NotEqual)):
            return frozenset(), name
    return frozenset(), frozenset()


def narrowed_info(name: str, scope: Scope) -> ExprInfo:
    """A name a test proved to be a tensor: what it held before, made a tensor if it was unknown."""
    before = scope.locals.get(name)
    if before is None and name in scope.tensor_args | scope.other_args:
        return ExprInfo("tensor", source=f"argument {name} (tested to be a tensor)", from_argument=name,
                        alias_of=f"argument {name}")
    if before is not None and before.is_tensor:
        return before
    return ExprInfo("tensor", source=f"{name} (tested to be a tensor)", from_argument=before and before.from_argument)


def _narrowed(node: cst.BaseExpression, tensors: frozenset[str], scope: Scope) -> ExprInfo:
    if isinstance(node, cst.Name) and node.value in tensors:
        return narrowed_info(node.value, scope)
    return classify(node, scope)


def merge_branches(body: ExprInfo, orelse: ExprInfo) -> ExprInfo:
    """The value of ``a if c else b`` (or a name bound on two paths): a tensor only when every path
    gives a tensor or None."""
    kinds = {body.kind, orelse.kind}
    anchors = body.every_path_refs & orelse.every_path_refs
    if kinds == {"tensor"}:
        return replace(body, init=_merge_init(body.init, orelse.init), dtype=_merge_dtype(body.dtype, orelse.dtype),
                       refs=body.refs | orelse.refs, alias_of=None, rank0=merge_rank0(body.rank0, orelse.rank0),
                       anchors=anchors)
    if kinds == {"tensor", "none"}:  # the rewrite keeps the None branch as it is
        return body if body.is_tensor else orelse
    if kinds == {"tensor", "registered"}:
        tensor = body if body.is_tensor else orelse
        return replace(tensor, partly_registered=True, alias_of=None)
    if "tensor" in kinds or "possible" in kinds:
        return replace(POSSIBLE, refs=body.refs | orelse.refs, anchors=anchors)
    return ExprInfo("none") if kinds == {"none"} else OTHER
