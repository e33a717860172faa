"""NR102: tensors held in a plain list, tuple or dict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Invalid
from .containers import ContainerRule, held_in

if TYPE_CHECKING:
    from ..findings import Finding


# The invalid example once fixed, and so also an example that must not be flagged.
FIXED = '''import torch
from torch import nn


class Mixture(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.ws = nn.ParameterList([nn.Parameter(torch.randn(dim)) for _ in range(2)])

    def forward(self, x):
        return x * self.ws[0] + self.ws[1]
'''


class TensorsInPlainContainer(ContainerRule):
    code = "NR102"
    name = "TensorsInPlainContainer"
    summary = "Tensors held in a plain list or dict are not registered"
    why = ("The module keeps tensors in a plain list, tuple or dict: Parameters in it are never trained, and "
           "no tensor in it follows .to()/.cuda() or is saved by state_dict().")
    fix = ("Hold trainable tensors in nn.ParameterList(...)/nn.ParameterDict(...); register constant tensors "
           "one by one as buffers.")
    fix_details = ("`self.weights = [nn.Parameter(...), ...]` becomes `nn.ParameterList([...])` (a dict with "
                   "literal string keys `nn.ParameterDict(...)`); the state_dict gains the keys `weights.<index>` "
                   "and the optimizer now trains them. Constant tensors have no torch container: nnreg reports "
                   "them with the fix to make by hand (register each element with register_buffer, or stack them "
                   "into one buffer when they share a shape) and never rewrites them.")
    refuses = ("It rewrites only when every element is an nn.Parameter (also one lost by `.to(device)`); tensors "
               "made with requires_grad=True rather than nn.Parameter are ambiguous, since they may be trained apart "
               "from parameters() on purpose. It refuses for the same reasons as NR101 (an element of another kind, "
               "a key nn.ParameterDict does not accept, filled or replaced after construction, passed to other "
               "code, used with an operation the torch container lacks), and always for constant tensors.")
    valid = (FIXED,)
    invalid = (Invalid('''import torch
from torch import nn


class Mixture(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.ws = [nn.Parameter(torch.randn(dim)) for _ in range(2)]

    def forward(self, x):
        return x * self.ws[0] + self.ws[1]
''', FIXED),)

    def message(self, finding: Finding) -> str:
        if any(r.code == "R-NO-TORCH-CONTAINER" for r in finding.reasons):
            return "holds tensors in a plain container: register each as a buffer"
        return f"holds trainable tensors in a plain container: use {held_in(finding)}"

    def help(self, finding: Finding) -> str:
        if any(r.code == "R-NO-TORCH-CONTAINER" for r in finding.reasons):
            return (f'register each: `self.register_buffer("{finding.attribute}_0", ...)`, or stack them into one '
                    "buffer")
        return f"hold them: `self.{finding.attribute} = {held_in(finding)}(...)`"

    def change(self, finding: Finding) -> str:
        return held_in(finding)
