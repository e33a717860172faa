"""Facts about the torch API that every stage shares (see PYTORCH-FACTS.md).

What a function or method *returns* (a tensor, a tuple, either, or no tensor) comes from the table
generated from torch's own operator schemas (:mod:`codemod.torch_returns`), so that nothing here can
type ``torch.max(x, dim)`` or ``torch.meshgrid`` as a tensor. The hand-written sets below only refine
tensors that the table already vouches for: how they are initialised and which dtype they get.
"""

from __future__ import annotations

from collections.abc import Iterable

from typing import Literal

from .torch_returns import FUNCTIONS_BY_KIND, METHODS_BY_KIND

Returns = Literal["tensor", "tuple", "tensor_or_tuple", "tensor_or_other", "not_tensor"]
FUNCTION_RETURNS: dict[str, Returns] = {name: kind for kind, names in FUNCTIONS_BY_KIND.items()  # type: ignore[misc]
                                        for name in names.split()}
METHOD_RETURNS: dict[str, Returns] = {name: kind for kind, names in METHODS_BY_KIND.items()  # type: ignore[misc]
                                      for name in names.split()}

PARAMETER_FACTORIES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter",
                                 "torch.nn.UninitializedParameter",
                                 "torch.nn.parameter.UninitializedParameter"})
BUFFER_FACTORIES = frozenset({"torch.nn.Buffer", "torch.nn.parameter.Buffer",
                              "torch.nn.UninitializedBuffer", "torch.nn.parameter.UninitializedBuffer"})
# Methods that return a converted copy: on a Parameter, ``nn.Parameter(t).to(device)`` gives a plain
# non-leaf tensor whenever the device or dtype changes, so the Parameter is never registered.
CONVERSIONS = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "type"})
# Tensors that torch.nn layers register: ``self.proj.weight`` is a Parameter when ``self.proj`` is a layer.
LAYER_TENSORS = frozenset({"weight", "bias", "running_mean", "running_var"})
# torch.nn classes that register no tensor of their own; every other torch.nn class a module derives
# from is a layer that does (``weight``, ``bias``, ``running_mean``, ...).
PLAIN_CONTAINERS = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.Sequential",
                              "torch.nn.ModuleList", "torch.nn.ModuleDict"})


# Modules whose functions code picks by name (``getattr(torch, window)(n)``).
NAMED_FUNCTION_OWNERS = frozenset({"torch", "torch.fft"})
# Functions and tensor methods that, given a dim, return a named tuple ``(values, indices)``: both fields
# are tensors (``x.sort().values``), the indices int64 (checked against torch in tests/test_torch_returns.py).
VALUES_AND_INDICES = frozenset({"sort", "topk", "kthvalue", "mode", "median", "nanmedian", "max", "min", "cummax",
                                "cummin"})

# Methods only a tensor has: not nn.Module, numpy.ndarray, nor a builtin has them (checked against torch and
# numpy in the tests). ``self.x.unsqueeze(0)`` anywhere in a class says that ``self.x`` holds a tensor
# whenever that code runs, however it was built; generic verbs a user class may define (``to``, ``cpu``,
# ``sum``, ``mean``, ``apply``) are left out.
TENSOR_ONLY_METHODS = frozenset({
    "unsqueeze", "unsqueeze_", "type_as", "index_select", "masked_fill", "masked_fill_", "masked_select",
    "masked_scatter", "expand_as", "view_as", "repeat_interleave", "scatter", "scatter_", "scatter_add",
    "scatter_add_", "scatter_reduce", "index_add", "index_add_", "index_copy", "index_copy_", "index_fill",
    "index_fill_", "index_put_", "new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "narrow",
    "permute", "contiguous", "pin_memory", "element_size", "numel", "bmm", "matmul", "mm", "mv", "log_softmax",
    "to_dense", "to_sparse", "coalesce", "is_floating_point", "bernoulli_", "normal_", "uniform_", "fill_",
    "zero_", "data_ptr", "untyped_storage", "clamp", "clamp_", "diag_embed", "long", "int", "short", "byte", "char",
    "dim", "ndimension", "nelement", "stride", "is_contiguous", "get_device", "is_complex"})
# ``.to()`` with one of these dtypes works on a tensor only: nn.Module.to() accepts floating and complex
# dtypes alone (TypeError otherwise), and NumPy arrays and builtins have no ``.to()`` (checked in the tests).
NON_FLOATING_DTYPES = frozenset({f"torch.{name}" for name in (
    "bool", "long", "int", "int64", "int32", "int16", "int8", "uint8", "short")})
# Methods only an nn.Module has (checked against torch in the tests): a class that calls one on itself
# is a module, whatever base it reaches it through (``class Net(BaseModule)`` from a package not read).
MODULE_ONLY_METHODS = frozenset({"register_buffer", "register_parameter", "add_module", "register_module",
                                 "named_buffers", "named_modules", "get_submodule", "register_forward_hook",
                                 "register_forward_pre_hook", "register_full_backward_hook"})


def torch_layer(bases: Iterable[str | None]) -> str | None:
    """The first torch.nn layer among qualified base names: its subclass holds ``self.weight`` & co."""
    return next((b for b in bases if b and b.startswith("torch.nn.") and b not in PLAIN_CONTAINERS), None)


# torch.nn layers whose ``__init__`` calls a method on self that a subclass may override: the override runs
# at construction, so what it assigns is built by ``__init__`` (checked against torch in the tests).
_RESETTING = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "Bilinear", "Conv1d", "Conv2d", "Conv3d",
              "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "GRU", "GRUCell",
              "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LSTM", "LSTMCell", "LayerNorm",
              "Linear", "PReLU", "RMSNorm", "RNN", "RNNBase", "RNNCell", "RNNCellBase", "SyncBatchNorm")
LAYER_INIT_CALLS: dict[str, str] = {**{f"torch.nn.{name}": "reset_parameters" for name in _RESETTING},
                                    "torch.nn.MultiheadAttention": "_reset_parameters",
                                    "torch.nn.Transformer": "_reset_parameters"}


# The torch container each container rewrite writes (NR101/NR102), by edit kind; nn.Sequential also holds
# modules, so what is handed to one is registered too.
TORCH_CONTAINERS: dict[str, str] = {"module-list": "torch.nn.ModuleList", "module-dict": "torch.nn.ModuleDict",
                                    "parameter-list": "torch.nn.ParameterList",
                                    "parameter-dict": "torch.nn.ParameterDict"}
MODULE_CONTAINERS = frozenset({"torch.nn.ModuleList", "torch.nn.ModuleDict", "torch.nn.Sequential"})
PARAMETER_CONTAINERS = frozenset({"torch.nn.ParameterList", "torch.nn.ParameterDict"})

# Classes torch.nn exports that are not modules, besides the Parameter and Buffer factories (torch 2.13;
# tests/test_rules.py checks that every other CapWords class of torch.nn is an nn.Module).
NOT_MODULE_CLASSES = frozenset({"torch.nn.LinearCrossEntropyOptions", "torch.nn.modules.LinearCrossEntropyOptions"})


def is_module_constructor(qualified: str) -> bool:
    """``torch.nn.Linear`` and the like: a class under torch.nn that builds a module, not a tensor."""
    return (qualified.startswith("torch.nn.") and qualified.rsplit(".", 1)[-1][:1].isupper()
            and qualified not in PARAMETER_FACTORIES | BUFFER_FACTORIES)

# What torch functions return, by name under ``torch.``: the static classifier and the cheap
# stage's candidate test both read these, so they agree on what can be a tensor.
RANDOM = frozenset({"rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like",
                    "randint_like", "bernoulli", "multinomial", "poisson"})
EMPTY = frozenset({"empty", "empty_like", "empty_strided", "Tensor"})
FILL = frozenset({"zeros", "ones", "full", "zeros_like", "ones_like", "full_like"})
DETERMINISTIC = frozenset({"eye", "arange", "range", "linspace", "logspace", "tril", "triu", "tensor",
                           "as_tensor", "asarray", "from_numpy", "hann_window", "hamming_window",
                           "blackman_window", "bartlett_window", "kaiser_window", "tril_indices",
                           "triu_indices", "meshgrid", "cartesian_prod", "combinations"})
# Functions of torch that return one tensor; the dtype follows their first tensor argument.
SAME_DTYPE = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "flip",
                        "roll", "diag", "diagflat", "diag_embed", "kron", "outer", "ger", "matmul", "mm",
                        "bmm", "einsum", "where", "clamp", "clip", "abs", "neg", "cumsum", "cumprod",
                        "repeat_interleave", "tile", "transpose", "permute", "reshape", "flatten",
                        "squeeze", "unsqueeze", "clone", "masked_fill", "index_select", "gather",
                        "scatter", "narrow", "block_diag", "t", "max", "min", "maximum", "minimum",
                        "sum", "prod", "square", "pow", "mul", "add", "sub", "fmod", "remainder"})
FLOATING = frozenset({"exp", "exp2", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin",
                      "acos", "atan", "atan2", "sinh", "cosh", "tanh", "sigmoid", "sqrt", "rsqrt",
                      "reciprocal", "softmax", "log_softmax", "erf", "erfinv", "mean", "std", "var",
                      "div", "true_divide", "polar", "complex", "view_as_real", "view_as_complex",
                      "floor", "ceil", "round", "trunc", "sign", "lerp", "cdist", "norm", "logsumexp",
                      "sinc", "deg2rad", "rad2deg", "hypot"})
INTEGER_RESULT = frozenset({"randint", "randperm", "tril_indices", "triu_indices", "argsort", "argmax",
                            "argmin", "bucketize", "searchsorted", "nonzero", "bincount"})
LEGACY_TYPES: dict[str, str | None] = {
    "Tensor": None, "FloatTensor": "float", "DoubleTensor": "float64", "HalfTensor": "float",
    "BFloat16Tensor": "float", "LongTensor": "int", "IntTensor": "int", "ShortTensor": "int",
    "CharTensor": "int", "ByteTensor": "int", "BoolTensor": "bool",
}
NOT_TENSORS = frozenset({"torch.device", "torch.Size", "torch.dtype", "torch.Generator", "torch.finfo",
                         "torch.iinfo", "torch.get_default_dtype", "torch.is_tensor", "torch.numel",
                         "torch.cuda.is_available"})
TENSOR_TYPES = frozenset({"torch.Tensor", "torch.FloatTensor", "torch.LongTensor", "torch.BoolTensor"})
TENSOR_SUBMODULES = ("fft.", "linalg.", "special.", "nn.functional.")
# Elementwise functions (and methods) of one tensor: the result has the shape of the argument.
ELEMENTWISE = frozenset({"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "asin",
                         "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "sigmoid", "sqrt",
                         "rsqrt", "reciprocal", "erf", "erfinv", "floor", "ceil", "round", "trunc", "sign",
                         "abs", "neg", "negative", "square", "clone", "detach", "relu", "lgamma", "digamma",
                         "deg2rad", "rad2deg", "float", "double", "half", "bfloat16", "long", "int", "short",
                         "bool", "to", "type", "cpu", "cuda", "contiguous"})
# Reductions over every element (no ``dim``): the result is 0-d.
FULL_REDUCTIONS = frozenset({"sum", "prod", "mean", "amax", "amin", "norm", "std", "var", "count_nonzero",
                             "max", "min", "all", "any", "median", "nansum", "nanmean"})
# Reductions of a square matrix: 0-d for one matrix, one number per matrix for a batch; ``trace``
# takes only a 2-d matrix, so it is always 0-d.
MATRIX_REDUCTIONS = frozenset({"det", "logdet", "linalg.det"})
# Elementwise functions of several operands: the result has their broadcast shape, 0-d when every operand
# is 0-d or a Python number (checked against torch in tests/test_torch_returns.py).
BROADCASTING = frozenset({"complex", "polar", "atan2", "hypot", "pow", "mul", "add", "sub", "div", "true_divide",
                          "maximum", "minimum", "fmod", "remainder", "where", "lerp"})
# Factories that make a tensor on the default device (the CPU) unless given ``device=``.
DEFAULT_DEVICE_FACTORIES = frozenset(f"torch.{name}" for name in (
    "zeros", "ones", "full", "empty", "rand", "randn", "randint", "randperm", "tensor", "arange", "linspace",
    "logspace", "eye"))
ALWAYS_0D = frozenset({"trace", "scalar_tensor"})
# NumPy functions that build arrays from numbers (``np.arange(0, 1, 0.1)`` is not a number).
NUMPY_ARRAYS = frozenset({"arange", "linspace", "logspace", "geomspace", "zeros", "ones", "full", "empty", "eye",
                          "identity", "array", "asarray", "meshgrid", "tri", "diag", "zeros_like", "ones_like",
                          "full_like", "empty_like", "stack", "concatenate"})
# torch.nn layers whose first two positional arguments are sizes (Python ints).
SIZED_LAYERS = frozenset({"Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                          "ConvTranspose2d", "ConvTranspose3d", "Embedding", "EmbeddingBag", "RNN", "LSTM",
                          "GRU", "RNNCell", "LSTMCell", "GRUCell", "MultiheadAttention"})
VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
# Functions outside torch that give back a value of their first argument's kind: einops dispatches on the
# input's backend, so ``rearrange(t, "i j -> (i j)")`` of a torch tensor is a torch tensor (a NumPy
# array stays one). A tensor when the first argument is one, unknown otherwise.
INPUT_TYPED_FUNCTIONS = frozenset({"einops.rearrange", "einops.repeat", "einops.reduce"})


def function_returns(qualified: str) -> Returns | None:
    """What calling ``qualified`` (a resolved name such as ``torch.linalg.eigh``) returns; None when
    it is not a torch function the table knows."""
    if qualified in VARIABLE:
        return "tensor"
    if not qualified.startswith("torch."):
        return None
    return FUNCTION_RETURNS.get(qualified[len("torch."):])


def method_returns(method: str) -> Returns | None:
    """What ``tensor.method(...)`` returns; None for a name that is not a Tensor method."""
    return METHOD_RETURNS.get(method)


def function_gives(qualified: str, positional: int, keywords: bool) -> Returns | None:
    """What calling ``qualified`` gives for this call, as far as certain: ``torch.max(x)`` is one tensor,
    while ``torch.max(x, 1)`` and ``torch.unique(x, return_counts=True)`` may be tuples."""
    returns = function_returns(qualified)
    if returns == "tensor_or_tuple":
        return "tensor" if positional == 1 and not keywords else None
    return returns


def method_gives(method: str, has_arguments: bool) -> Returns | None:
    """What ``tensor.method(...)`` gives for this call, as far as certain: ``x.max()`` is one tensor and
    ``x.max(1)`` may be a tuple; ``x.type(torch.float)`` is a tensor and ``x.type()`` a string."""
    returns = method_returns(method)
    if returns == "tensor_or_tuple":
        return "tensor" if not has_arguments and method in FULL_REDUCTIONS else None
    if returns == "tensor_or_other":
        return "tensor" if has_arguments else None
    return returns


