"""NR001: a tensor the module means to train, stored as a plain attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Invalid
from .tensor_attributes import TensorAttributeRule

if TYPE_CHECKING:
    from ..findings import Finding


# The invalid example once fixed, and so also an example that must not be flagged.
FIXED = '''import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim))

    def forward(self, x):
        return x @ self.weight
'''


class TensorShouldBeParameter(TensorAttributeRule):
    code = "NR001"
    name = "TensorShouldBeParameter"
    summary = "Tensor attribute should be an nn.Parameter"
    why = ("The module stores a tensor it means to train as a plain attribute: the optimizer never sees it, "
           "and .to()/.cuda() and state_dict() ignore it.")
    fix = "Wrap it in nn.Parameter(...)."
    fix_details = ("`self.w = torch.randn(d, d)` becomes `self.w = nn.Parameter(torch.randn(d, d))`; "
                   "`nn.Parameter(t).to(device)`, which returns a plain tensor on another device or dtype, "
                   "becomes `nn.Parameter(t.to(device))`. The state_dict gains the key, so old checkpoints "
                   "need `strict=False`; the optimizer now trains the tensor. A Parameter changes training, "
                   "so it needs positive evidence of intent to train: requires_grad=True, torch.nn.init, a read "
                   "of .grad, a trainable name with a learned-looking initialisation, or the role of a "
                   "hand-written layer's weight or bias in forward.")
    refuses = ("Evidence for both a Parameter and a buffer is ambiguous (`--ambiguous parameter` settles it). "
               "It refuses (unsafe) where registration would raise or change behaviour: the name is already a "
               "class member, the tensor is aliased or derived from another Parameter, updated in place outside "
               "torch.no_grad(), later assigned a plain tensor, kept on the CPU on purpose, or trained by an "
               "optimizer of its own. docs/rules.md lists every reason code.")
    valid = (FIXED,)
    invalid = (Invalid('''import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = torch.randn(dim, dim)

    def forward(self, x):
        return x @ self.weight
''', FIXED),)

    def message(self, finding: Finding) -> str:
        return "should be an nn.Parameter"

    def help(self, finding: Finding) -> str:
        return f"wrap it: `self.{finding.attribute} = nn.Parameter(...)`"

    def change(self, finding: Finding) -> str:
        return "nn.Parameter"
