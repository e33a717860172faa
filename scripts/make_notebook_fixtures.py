"""Write the notebook fixtures of ``tests/notebooks`` with nbformat's own writer, as Jupyter saves them.

Each case is written twice from one description: ``input`` with the sources as a person wrote them,
``expected`` with the sources ``nnreg fix`` must produce and every other byte (outputs, images,
execution counts, ids, metadata) the same. Run it after changing a case:

    python scripts/make_notebook_fixtures.py
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent / "tests" / "notebooks"
# A 1x1 PNG: a real image output, as matplotlib leaves one in the notebook.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cf000000030101001c1a8d4a0000000049454e44ae426082")).decode()

BLOCK = """class Block(nn.Module):
    def __init__(self, size=4):
        super().__init__()
        self.mask = torch.tril(torch.ones(size, size))  # causal

    def forward(self, x):
        return x.masked_fill(self.mask == 0, 0.0)"""
NET = """%%time
class Net(Block):
    def __init__(self):
        super().__init__()
        %config InlineBackend.figure_format = 'retina'
        self.pos = torch.arange(4)

    def forward(self, x):
        return super().forward(x) + self.pos
"""
SCALED = """class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.randn(4, requires_grad=True)

    def forward(self, x):
        return x * self.scale"""
HEAD = """class Head(Base):
    def __init__(self):
        super().__init__()
        self.scale = torch.ones(1)
        self.offset = torch.zeros(3)

    def forward(self, x):
        return x * self.scale + self.offset"""


def research(fixed: bool) -> Any:
    """Magics of every kind, a class whose base is in an earlier cell, outputs with an image, a cell
    that does not parse, non-ASCII text in sources and outputs."""
    block, net, scaled = BLOCK, NET, SCALED
    if fixed:
        block = block.replace("self.mask = torch.tril(torch.ones(size, size))  # causal",
                              'self.register_buffer(\n            "mask", torch.tril(torch.ones(size, size)), persistent=False\n'
                              '        )  # causal')  # wrapped at 88 columns, as black would
        net = net.replace("self.pos = torch.arange(4)", 'self.register_buffer("pos", torch.arange(4), persistent=False)')
        scaled = scaled.replace("torch.randn(4, requires_grad=True)", "nn.Parameter(torch.randn(4, requires_grad=True))")
    notebook = new_notebook(metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python", "version": "3.11.7"}})
    notebook.cells = [
        new_markdown_cell("# Causal attention, by hand\nThe masks live on the module — é.", id="intro"),
        new_code_cell("%matplotlib inline\n!pip install -q einops\nimport torch\nfrom torch import nn\n"
                      "import matplotlib.pyplot as plt", id="imports", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="Successfully installed einops\n")]),
        new_code_cell(block, id="block", execution_count=2, metadata={"tags": ["model"]}),
        new_code_cell(net, id="net", execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="CPU times: user 5 µs\nWall time: 8 µs\n")]),
        new_code_cell("Net?", id="help", execution_count=4),
        new_code_cell("def broken(:\n    pass", id="broken", execution_count=5, outputs=[new_output(
            "error", ename="SyntaxError", evalue="invalid syntax (123.py, line 1)", traceback=["SyntaxError"])]),
        new_code_cell("model = Net()\nplt.imshow(model.mask)", id="plot", execution_count=6, outputs=[
            new_output("execute_result", execution_count=6, data={"text/plain": "<matplotlib.image.AxesImage>"}),
            new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"},
                       metadata={"needs_background": "light"})]),
        new_code_cell(scaled, id="scaled", execution_count=7),
    ]
    return notebook


def package_base(fixed: bool) -> Any:
    """A notebook class whose base is a module class of the repository's package."""
    head = HEAD
    if fixed:
        head = head.replace("self.offset = torch.zeros(3)", 'self.register_buffer("offset", torch.zeros(3), persistent=False)')
    notebook = new_notebook(metadata={"language_info": {"name": "python"}})
    notebook.cells = [
        new_code_cell("import torch\nfrom pkg.models import Base", id="imports", execution_count=1),
        new_code_cell(head, id="head", execution_count=2),
        new_code_cell("Head()(torch.ones(3))", id="run", execution_count=3, outputs=[new_output(
            "execute_result", execution_count=3, data={"text/plain": "tensor([1., 1., 1.])"})]),
    ]
    return notebook


PACKAGE_BASE_FILES = {
    "pkg/__init__.py": "",
    "pkg/models.py": 'import torch\nfrom torch import nn\n\n\nclass Base(nn.Module):\n    def __init__(self):\n'
                     '        super().__init__()\n        self.register_buffer("scale", torch.ones(1))\n',
}
CASES = {"research": ("research.ipynb", research, {}),
         "package_base": ("experiments/train.ipynb", package_base, PACKAGE_BASE_FILES)}


def main() -> None:
    for name, (path, build, files) in CASES.items():
        for side, fixed in (("input", False), ("expected", True)):
            folder = ROOT / name / side
            shutil.rmtree(folder, ignore_errors=True)
            for relative, text in {**files, path: None}.items():
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                if text is None:
                    notebook = build(fixed)
                    nbformat.validate(notebook)
                    nbformat.write(notebook, str(target))
                else:
                    target.write_text(text)


if __name__ == "__main__":
    main()
