"""Generate ``codemod/torch_returns.py``: what each public torch function and Tensor method returns.

    python scripts/generate_torch_returns.py > codemod/torch_returns.py

The kinds come from the installed torch's own operator schemas (``torch._C._jit_get_all_schemas``):
an operator all of whose overloads return one ``Tensor`` is ``tensor``; one returning several values
or a ``Tensor[]`` is ``tuple``; a name with both kinds of overload (``torch.max(x)`` vs
``torch.max(x, dim)``) is ``tensor_or_tuple``; anything else (``int``, ``bool``, ``Scalar``) is
``not_tensor``. Python-level functions without a schema of their own are listed by hand in
``PYTHON_LEVEL`` below. ``tests/test_torch_returns.py`` regenerates the table and compares, so it
cannot drift from the torch it was made with, and checks the hand-written part by calling torch.
"""

from __future__ import annotations

import collections
import inspect
import sys

import torch
import torch.nn.functional

# Public torch functions implemented in Python (torch/functional.py and friends), checked by the test.
PYTHON_LEVEL: dict[str, str] = {
    "meshgrid": "tuple", "split": "tuple", "unique": "tensor_or_tuple", "unique_consecutive": "tensor_or_tuple",
    "unravel_index": "tuple", "broadcast_tensors": "tuple", "broadcast_shapes": "not_tensor",
    "atleast_1d": "tensor_or_tuple", "atleast_2d": "tensor_or_tuple", "atleast_3d": "tensor_or_tuple",
    "stft": "tensor", "istft": "tensor", "norm": "tensor", "einsum": "tensor", "tensordot": "tensor",
    "cdist": "tensor", "chain_matmul": "tensor", "block_diag": "tensor", "cartesian_prod": "tensor",
    "lu": "tuple", "tensor": "tensor", "as_tensor": "tensor", "asarray": "tensor", "from_numpy": "tensor",
    "is_tensor": "not_tensor", "is_storage": "not_tensor", "numel": "not_tensor", "get_default_dtype": "not_tensor",
    "Size": "not_tensor", "device": "not_tensor", "dtype": "not_tensor", "Generator": "not_tensor",
    "finfo": "not_tensor", "iinfo": "not_tensor", "compile": "not_tensor", "no_grad": "not_tensor",
    "enable_grad": "not_tensor", "inference_mode": "not_tensor", "set_grad_enabled": "not_tensor",
    "manual_seed": "not_tensor", "is_grad_enabled": "not_tensor", "is_floating_point": "not_tensor",
    "is_complex": "not_tensor", "is_nonzero": "not_tensor", "get_rng_state": "tensor",
    "Tensor": "tensor", "FloatTensor": "tensor", "DoubleTensor": "tensor", "HalfTensor": "tensor",
    "BFloat16Tensor": "tensor", "LongTensor": "tensor", "IntTensor": "tensor", "ShortTensor": "tensor",
    "CharTensor": "tensor", "ByteTensor": "tensor", "BoolTensor": "tensor",
}
# Tensor methods implemented in Python or with no schema of their own.
PYTHON_METHODS: dict[str, str] = {
    "item": "not_tensor", "tolist": "not_tensor", "numpy": "not_tensor", "size": "not_tensor",
    "dim": "not_tensor", "numel": "not_tensor", "nelement": "not_tensor", "element_size": "not_tensor",
    "data_ptr": "not_tensor", "stride": "not_tensor", "is_contiguous": "not_tensor", "get_device": "not_tensor",
    "storage": "not_tensor", "untyped_storage": "not_tensor", "is_floating_point": "not_tensor",
    "is_complex": "not_tensor", "equal": "not_tensor", "allclose": "not_tensor", "split": "tuple",
    "unique": "tensor_or_tuple", "unique_consecutive": "tensor_or_tuple", "norm": "tensor", "stft": "tensor",
    "istft": "tensor", "lu": "tuple", "to": "tensor", "type": "tensor_or_other", "cuda": "tensor", "cpu": "tensor",
    "float": "tensor", "double": "tensor", "half": "tensor", "bfloat16": "tensor", "long": "tensor", "int": "tensor",
    "short": "tensor", "char": "tensor", "byte": "tensor", "bool": "tensor", "cfloat": "tensor",
    "cdouble": "tensor", "type_as": "tensor", "view_as": "tensor", "expand_as": "tensor", "reshape_as": "tensor",
    "new_tensor": "tensor", "new_zeros": "tensor", "new_ones": "tensor", "new_full": "tensor", "new_empty": "tensor",
    "clone": "tensor", "detach": "tensor", "contiguous": "tensor", "requires_grad_": "tensor", "share_memory_": "tensor",
    "pin_memory": "tensor",
}


def _tensor_typed(text: str) -> bool:
    return "Tensor" in text


def _overload_kind(schema) -> str | None:
    returns = schema.returns
    if not returns:
        return None
    if len(returns) > 1:
        return "tuple"
    text = str(returns[0].type)
    if text == "Tensor":
        return "tensor"
    if _tensor_typed(text) and ("[]" in text or "List" in text or "Tuple" in text):
        return "tuple"
    if text in ("Tensor?", "Optional[Tensor]"):
        return None
    return "not_tensor"


def _combine(kinds: set[str]) -> str | None:
    if not kinds:
        return None
    if kinds == {"tensor"}:
        return "tensor"
    if kinds == {"tuple"}:
        return "tuple"
    if kinds == {"tensor", "tuple"}:
        return "tensor_or_tuple"
    if kinds == {"not_tensor"}:
        return "not_tensor"
    return "tensor_or_other"


def schema_kinds() -> dict[str, str]:
    """aten operator name -> kind, over the overloads that take or return a tensor (``aten::split.str``
    is Python's ``str.split``, not a tensor operation)."""
    overloads: dict[str, set[str]] = collections.defaultdict(set)
    for schema in torch._C._jit_get_all_schemas():
        if not schema.name.startswith("aten::") or schema.overload_name.endswith("out"):
            continue
        kind = _overload_kind(schema)
        touches_tensor = any(_tensor_typed(str(a.type)) for a in schema.arguments) or kind in ("tensor", "tuple")
        if kind is not None and touches_tensor:
            overloads[schema.name[len("aten::"):]].add(kind)
    return {name: combined for name, kinds in overloads.items() if (combined := _combine(kinds))}


def _public(namespace) -> list[str]:
    return sorted(n for n in dir(namespace) if not n.startswith("_") and callable(getattr(namespace, n, None)))


def functions(aten: dict[str, str]) -> dict[str, str]:
    """``name`` under ``torch.`` (``linalg.eigh``, ``nn.functional.linear``) -> kind."""
    table: dict[str, str] = {}
    for name in _public(torch):
        kind = PYTHON_LEVEL.get(name) or aten.get(name)
        if kind:
            table[name] = kind
    for prefix, namespace in (("linalg", torch.linalg), ("fft", torch.fft), ("special", torch.special),
                              ("sparse", torch.sparse)):
        for name in _public(namespace):
            kind = aten.get(f"{prefix}_{name}") or aten.get(f"_{prefix}_{name}") or aten.get(name)
            if prefix == "sparse" and name in PYTHON_LEVEL and name.endswith("Tensor"):
                kind = "tensor"  # the legacy sparse constructors, torch.sparse.FloatTensor(indices, values, size)
            if kind:
                table[f"{prefix}.{name}"] = kind
    for name in _public(torch.nn.functional):
        function = getattr(torch.nn.functional, name)
        if inspect.isclass(function) or getattr(function, "__module__", "") not in (
                "torch.nn.functional", "torch._C._nn", "torch._C._VariableFunctions", None):
            continue
        kind = aten.get(name)
        if kind is None:
            try:
                parameters = inspect.signature(function).parameters
            except (TypeError, ValueError):
                parameters = {}
            if name.endswith("_with_indices") or name == "multi_head_attention_forward":
                kind = "tuple"
            elif "return_indices" in parameters:
                kind = "tensor_or_tuple"
            else:
                kind = "tensor"
        table[f"nn.functional.{name}"] = kind
    return table


def methods(aten: dict[str, str]) -> dict[str, str]:
    table: dict[str, str] = {}
    for name in _public(torch.Tensor):
        kind = PYTHON_METHODS.get(name) or aten.get(name)
        if kind:
            table[name] = kind
    return table


def render() -> str:
    aten = schema_kinds()
    sections = []
    for title, table in (("FUNCTIONS", functions(aten)), ("METHODS", methods(aten))):
        by_kind: dict[str, list[str]] = collections.defaultdict(list)
        for name, kind in sorted(table.items()):
            by_kind[kind].append(name)
        body = []
        for kind in sorted(by_kind):
            names = by_kind[kind]
            chunks = [" ".join(names[i:i + 8]) for i in range(0, len(names), 8)]
            body.append(f'    "{kind}": """\n        ' + "\n        ".join(chunks) + '\n    """,')
        sections.append(f"{title}_BY_KIND = {{\n" + "\n".join(body) + "\n}")
    header = (
        '"""What public torch functions and Tensor methods return, generated from torch '
        f'{torch.__version__.split("+")[0]}.\n\n'
        "Do not edit: ``python scripts/generate_torch_returns.py > codemod/torch_returns.py`` regenerates it\n"
        "(``tests/test_torch_returns.py`` fails when it differs from the installed torch). Kinds: ``tensor``,\n"
        "``tuple`` (several tensors, a named tuple or a list), ``tensor_or_tuple`` (depends on the arguments:\n"
        "``torch.max(x)`` vs ``torch.max(x, dim)``), ``tensor_or_other`` and ``not_tensor``.\n"
        '"""\n\n'
        f'GENERATED_FROM = "{torch.__version__.split("+")[0]}"\n\n'
    )
    return header + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
