"""Per-file import table: resolves a dotted name as written to the qualified name it refers to.

Names are resolved only through the file's real imports and its own class definitions, never by
guessing from spelling: ``nn.Module`` means ``torch.nn.Module`` only when the file imported ``nn``
from torch. Built from :mod:`ast` because the table is needed for every file in the cheap stage.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class ImportTable:
    """Maps each locally bound name to the fully qualified name it stands for."""

    module: str
    bindings: dict[str, str] = field(default_factory=dict)
    star_sources: list[str] = field(default_factory=list)  # modules imported with ``from m import *``

    def resolve(self, dotted: str | None) -> str | None:
        """Qualified name for a dotted expression such as ``nn.Linear``; None when unknown."""
        if not dotted:
            return None
        head, _, rest = dotted.partition(".")
        target = self.bindings.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def spelling_for(self, qualified: str) -> str | None:
        """Shortest way the file can already write ``qualified`` (for example ``nn.Parameter``)."""
        best: str | None = None
        for local, target in self.bindings.items():
            if qualified == target:
                candidate = local
            elif qualified.startswith(target + "."):
                candidate = local + qualified[len(target) :]
            else:
                continue
            if best is None or len(candidate) < len(best):
                best = candidate
        return best


def module_name_for(path_parts: tuple[str, ...], is_package_init: bool) -> str:
    """Dotted module name from path parts below the package root (``pkg/net.py`` -> ``pkg.net``)."""
    parts = list(path_parts)
    parts[-1] = parts[-1].removesuffix(".py")
    if is_package_init:
        parts = parts[:-1]
    return ".".join(parts)


def _absolute_from(module: str, is_package_init: bool, level: int, target: str | None) -> str | None:
    """Resolve ``from ..x import y`` against the importing module's own package."""
    if level == 0:
        return target
    package_parts = module.split(".") if is_package_init else module.split(".")[:-1]
    if level - 1 > len(package_parts):
        return None
    base = package_parts[: len(package_parts) - (level - 1)]
    if target:
        base = base + target.split(".")
    return ".".join(base) if base else None


def build_import_table(tree: ast.Module, module: str, is_package_init: bool) -> ImportTable:
    """Collect every import in the file (top level and nested) plus its top-level class names."""
    table = ImportTable(module=module)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    table.bindings[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    table.bindings[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = _absolute_from(module, is_package_init, node.level, node.module)
            if source is None:
                continue
            for alias in node.names:
                if alias.name == "*":  # the names are unknown here; the class index follows the module
                    table.star_sources.append(source)
                else:
                    table.bindings[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            table.bindings[node.name] = f"{module}.{node.name}" if module else node.name
    return table


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None
