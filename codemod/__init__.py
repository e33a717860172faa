"""nnreg: find and fix tensors that a torch.nn.Module holds without registering them."""

__version__ = "0.7.0"
