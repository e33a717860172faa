"""NR101: modules held in a plain list, tuple or dict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Invalid
from .containers import ContainerRule, held_in

if TYPE_CHECKING:
    from ..findings import Finding


# The invalid example once fixed, and so also an example that must not be flagged.
FIXED = '''import torch
from torch import nn


class Stack(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
'''


class ModulesInPlainContainer(ContainerRule):
    code = "NR101"
    name = "ModulesInPlainContainer"
    summary = "Modules held in a plain list or dict should be in nn.ModuleList/nn.ModuleDict"
    why = ("The module keeps submodules in a plain list, tuple or dict: their parameters are missing from "
           "parameters(), so the optimizer never trains them; .to()/.cuda(), state_dict() and .train()/.eval() "
           "miss them too.")
    fix = "Hold them in nn.ModuleList(...) or nn.ModuleDict(...)."
    fix_details = ("`self.layers = [nn.Linear(d, d) for _ in range(n)]` becomes "
                   "`self.layers = nn.ModuleList([nn.Linear(d, d) for _ in range(n)])`; an empty list filled by "
                   "append/extend/insert in __init__ becomes `nn.ModuleList()`, a dict with literal string keys "
                   "`nn.ModuleDict(...)`. The state_dict gains the keys `layers.<index>.*` and the optimizer now "
                   "trains those parameters: the fix changes training and checkpoints, and the report says so.")
    refuses = ("It rewrites only when every element is known to be a module (a torch.nn class or a module class "
               "of the scanned tree). It refuses (unsafe) when an element may not be a module, a key may not be a "
               "name nn.ModuleDict accepts, the container is filled or replaced after construction, passed to other "
               "code, used with an operation the torch container lacks, assigned before super().__init__(), or "
               "named like a member. A builder list that __init__ hands to nn.ModuleList/nn.Sequential itself, "
               "and a list of modules registered elsewhere (aliases, add_module), are not flagged. A container "
               "never used outside __init__ is ambiguous.")
    valid = (FIXED, '''import torch
from torch import nn


class Blocks(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.a = nn.Linear(dim, dim)
        self.b = nn.Linear(dim, dim)
        self.order = [self.a, self.b]

    def forward(self, x):
        for layer in self.order:
            x = layer(x)
        return x
''')
    invalid = (Invalid('''import torch
from torch import nn


class Stack(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        self.layers = [nn.Linear(dim, dim) for _ in range(depth)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
''', FIXED),)

    def message(self, finding: Finding) -> str:
        return f"holds modules in a plain container: use {held_in(finding)}"

    def help(self, finding: Finding) -> str:
        return f"hold them: `self.{finding.attribute} = {held_in(finding)}(...)`"

    def change(self, finding: Finding) -> str:
        return held_in(finding)
