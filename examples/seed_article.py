"""The three modules of the seed article, plus a few buffer cases: run `nnreg diff examples/`."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class IncorrectLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = torch.randn(out_features, in_features)
        self.bias = torch.randn(out_features)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class IncorrectConv(nn.Module):
    def __init__(self, precomputed_kernel: torch.Tensor):
        super().__init__()
        self.kernel = precomputed_kernel

    def forward(self, x):
        return F.conv2d(x, self.kernel, padding=1)


class CausalAttentionMask(nn.Module):
    def __init__(self, block_size: int = 8):
        super().__init__()
        self.mask = torch.tril(torch.ones(block_size, block_size)).bool()

    def forward(self, scores):
        t = scores.size(-1)
        return scores.masked_fill(~self.mask[:t, :t], float("-inf"))


class RotaryTable(nn.Module):
    def __init__(self, dim: int = 16, base: float = 10000.0):
        super().__init__()
        self.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, positions):
        return torch.outer(positions.float(), self.inv_freq)


class StepCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.steps = torch.zeros((), dtype=torch.long)

    def forward(self, x):
        self.steps += 1
        return x


class PlainLayerList(nn.Module):
    """Layers in a plain list: never trained, never moved by .cuda(), never saved."""

    def __init__(self, dim=8, depth=2):
        super().__init__()
        self.layers = [nn.Linear(dim, dim) for _ in range(depth)]

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x
