"""NR002: a constant or state tensor stored as a plain attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Invalid
from .tensor_attributes import TensorAttributeRule

if TYPE_CHECKING:
    from ..findings import Finding


# The invalid example once fixed, and so also an example that must not be flagged.
FIXED = '''import torch
from torch import nn


class Causal(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("mask", torch.tril(torch.ones(n, n)), persistent=False)

    def forward(self, x):
        return x.masked_fill(self.mask == 0, 0.0)
'''


class TensorShouldBeBuffer(TensorAttributeRule):
    code = "NR002"
    name = "TensorShouldBeBuffer"
    summary = "Tensor attribute should be a registered buffer"
    why = ("The module stores a constant or state tensor as a plain attribute: .to()/.cuda()/.half() leave it "
           "behind and state_dict() forgets it.")
    fix = "Register it with self.register_buffer(...)."
    fix_details = ("`self.mask = torch.tril(...)` becomes `self.register_buffer(\"mask\", torch.tril(...), "
                   "persistent=False)` (or `self.mask = nn.Buffer(...)` with `--buffer-style nn.Buffer`). A buffer "
                   "keeps every value and only makes the tensor follow the module, so it is the default when "
                   "nothing says the tensor is trained. A constant recomputed by __init__ is non-persistent (the "
                   "state_dict keys stay as they were); running state, mutated outside __init__, is persistent "
                   "(`--persistent` overrides). A tensor first built outside __init__ (a cache built once, fitted "
                   "state) is declared in __init__ as a buffer holding None.")
    refuses = ("Doubts leave it ambiguous: it is never read, may be a 0-d tensor, is replaced by a method at run "
               "time, or is listed by name elsewhere. It refuses (unsafe) where registration would raise or change "
               "behaviour: the name is already a class member, assigned before super().__init__(), aliased, "
               "deleted, given a non-tensor value, read on the host or in data loading, or combined with tensors "
               "made on the default device. docs/rules.md lists every reason code.")
    valid = (FIXED, '''import torch
from torch import nn


class Temperature(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.tensor(2.0)

    def forward(self, x):
        return x / self.scale
''')
    invalid = (Invalid('''import torch
from torch import nn


class Causal(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.mask = torch.tril(torch.ones(n, n))

    def forward(self, x):
        return x.masked_fill(self.mask == 0, 0.0)
''', FIXED),)

    def message(self, finding: Finding) -> str:
        return f"should be a buffer (persistent={finding.persistent})"

    def help(self, finding: Finding) -> str:
        return f'register it: `self.register_buffer("{finding.attribute}", ..., persistent={finding.persistent})`'

    def change(self, finding: Finding) -> str:
        return f"buffer (persistent={finding.persistent})"
