"""The torch facts table cannot drift: it is regenerated from the installed torch and compared, and its
hand-written part (Python-level functions without an operator schema) is checked by calling torch."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from codemod import torch_returns  # noqa: E402
from codemod.torch_facts import (BROADCASTING, FUNCTION_RETURNS, NON_FLOATING_DTYPES, LAYER_INIT_CALLS, METHOD_RETURNS,  # noqa: E402
                                 MODULE_ONLY_METHODS, TENSOR_ONLY_METHODS, VALUES_AND_INDICES, function_returns,
                                 method_returns)

GENERATOR = Path(__file__).resolve().parent.parent / "scripts" / "generate_torch_returns.py"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_torch_returns", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_is_what_the_installed_torch_generates() -> None:
    if torch.__version__.split("+")[0] != torch_returns.GENERATED_FROM:
        pytest.skip(f"table made from torch {torch_returns.GENERATED_FROM}, torch {torch.__version__} installed")
    path = Path(torch_returns.__file__)
    assert path.read_text() == _generator().render(), (
        "codemod/torch_returns.py is stale: python scripts/generate_torch_returns.py > codemod/torch_returns.py")


def test_no_entry_contradicts_the_operator_schemas() -> None:
    """Whatever torch is installed, no name the schemas call a tuple is typed as one tensor."""
    schemas = _generator().schema_kinds()
    for name, kind in FUNCTION_RETURNS.items():
        aten = schemas.get(name.replace(".", "_").removeprefix("nn_functional_"))
        if kind == "tensor" and aten is not None:
            assert aten in ("tensor", "tensor_or_other"), f"torch.{name}: table says tensor, schema {aten}"


X = torch.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize(("name", "call"), [
    ("meshgrid", lambda: torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")),
    ("split", lambda: torch.split(X, 1)),
    ("chunk", lambda: torch.chunk(X, 2)),
    ("unbind", lambda: torch.unbind(X)),
    ("sort", lambda: torch.sort(X)),
    ("topk", lambda: torch.topk(X, 2)),
    ("linalg.eigh", lambda: torch.linalg.eigh(torch.eye(2))),
    ("linalg.qr", lambda: torch.linalg.qr(torch.eye(2))),
    ("broadcast_tensors", lambda: torch.broadcast_tensors(X, X)),
    ("unravel_index", lambda: torch.unravel_index(torch.tensor(4), (2, 3))),
    ("lu", lambda: torch.lu(torch.eye(2))),
])
def test_tuple_functions_return_tuples(name: str, call) -> None:
    assert function_returns(f"torch.{name}") == "tuple"
    assert isinstance(call(), (tuple, list))


@pytest.mark.parametrize(("name", "one", "several"), [
    ("max", lambda: torch.max(X), lambda: torch.max(X, 1)),
    ("min", lambda: torch.min(X), lambda: torch.min(X, dim=0)),
    ("median", lambda: torch.median(X), lambda: torch.median(X, 1)),
    ("unique", lambda: torch.unique(X), lambda: torch.unique(X, return_counts=True)),
    ("atleast_1d", lambda: torch.atleast_1d(X), lambda: torch.atleast_1d(X, X)),
    ("where", lambda: torch.where(X > 1, X, X), lambda: torch.where(X > 1)),
])
def test_tensor_or_tuple_functions_depend_on_arguments(name: str, one, several) -> None:
    assert function_returns(f"torch.{name}") == "tensor_or_tuple"
    assert isinstance(one(), torch.Tensor)
    assert isinstance(several(), (tuple, list))


@pytest.mark.parametrize("name", ["tensor", "as_tensor", "from_numpy", "stft", "norm", "einsum", "cdist",
                                  "block_diag", "cartesian_prod", "tensordot", "Tensor", "FloatTensor", "LongTensor"])
def test_hand_listed_tensor_functions_exist(name: str) -> None:
    assert function_returns(f"torch.{name}") == "tensor"
    assert callable(getattr(torch, name))


def test_methods() -> None:
    assert method_returns("item") == "not_tensor" and isinstance(X[0, 0].item(), float)
    assert method_returns("chunk") == "tuple" and isinstance(X.chunk(2), tuple)
    assert method_returns("max") == "tensor_or_tuple"
    assert method_returns("size") == "not_tensor" and not isinstance(X.size(), torch.Tensor)
    for name in ("float", "to", "clone", "unsqueeze", "matmul", "detach", "exp"):
        assert method_returns(name) == "tensor"
        assert name in METHOD_RETURNS


@pytest.mark.parametrize("layer", sorted(LAYER_INIT_CALLS))
def test_layers_call_their_construction_hook_from_init(layer: str) -> None:
    """The torch layers listed as calling a method on self from ``__init__`` do, in the installed torch:
    a subclass's override of it runs at construction."""
    cls = getattr(torch.nn, layer.rsplit(".", 1)[1])
    hook = LAYER_INIT_CALLS[layer]
    inits = [k.__dict__["__init__"] for k in cls.__mro__ if k is not torch.nn.Module and "__init__" in k.__dict__]
    assert any(f"self.{hook}()" in inspect.getsource(init) for init in inits)


@pytest.mark.parametrize("name", sorted(VALUES_AND_INDICES))
def test_values_and_indices_are_tensor_fields(name: str) -> None:
    """``torch.sort(x).values`` & co: the classifier types both fields as tensors, the indices as integers."""
    x = torch.randn(3, 4)
    args = (1, 0) if name in ("topk", "kthvalue") else (0,)
    for result in (getattr(torch, name)(x, *args), getattr(x, name)(*args)):
        assert isinstance(result.values, torch.Tensor) and result.indices.dtype == torch.int64


def test_tensor_only_methods_are_on_tensors_alone() -> None:
    """``self.x.unsqueeze(0)`` types ``self.x`` only if no module, NumPy array or builtin value has that method."""
    import numpy
    others = [torch.nn.Module, numpy.ndarray, list, tuple, dict, set, str, bytes, int, float, complex]
    for name in sorted(TENSOR_ONLY_METHODS):
        assert callable(getattr(torch.Tensor, name, None)), name
        assert not [kind.__name__ for kind in others if hasattr(kind, name)], name


def test_module_only_methods_are_on_modules_alone() -> None:
    """A class calling ``self.register_buffer(...)`` proves its unread base a module only if nothing but an
    nn.Module has that method."""
    import numpy
    others = [torch.Tensor, numpy.ndarray, list, tuple, dict, set, str, bytes, int, float, complex]
    for name in sorted(MODULE_ONLY_METHODS):
        assert callable(getattr(torch.nn.Module, name, None)), name
        assert not [kind.__name__ for kind in others if hasattr(kind, name)], name


@pytest.mark.parametrize("name", sorted(BROADCASTING))
def test_broadcasting_functions_are_0d_only_when_every_operand_is(name: str) -> None:
    """``torch.complex(torch.tensor(0.), torch.tensor(1.))`` is 0-d (a 0-d CPU tensor works on any device);
    one operand with a dimension gives the result that dimension."""
    fn = getattr(torch, name)
    def operands(first: torch.Tensor) -> tuple:
        if name == "where":
            return (torch.tensor(True), first, torch.tensor(0.5))
        if name == "lerp":
            return (first, torch.tensor(1.0), torch.tensor(0.5))
        return (first, torch.tensor(0.5))
    assert fn(*operands(torch.tensor(2.0))).dim() == 0
    assert fn(*operands(torch.full((3,), 2.0))).shape == (3,)


@pytest.mark.parametrize("name", sorted(NON_FLOATING_DTYPES))
def test_only_a_tensor_moves_to_a_non_floating_dtype(name: str) -> None:
    """``x.to(torch.bool)`` types an untyped ``x`` as a tensor: nn.Module.to() refuses the dtype."""
    dtype = getattr(torch, name.removeprefix("torch."))
    assert torch.ones(2).to(dtype).dtype == dtype
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).to(dtype)
