"""``python -m codemod`` runs the ``nnreg`` command line."""

from .cli import run_main

run_main()
