"""Options: the ``[tool.nnreg]`` table of the nearest ``pyproject.toml``, overridden by the command line."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """A configuration that cannot be used; the run stops with exit code 2."""


@dataclass(frozen=True)
class Options:
    select: tuple[str, ...] = ("NR",)
    ignore: tuple[str, ...] = ()
    ambiguous: str = "skip"
    min_confidence: float = 0.0
    persistent: str = "auto"
    buffer_style: str = "register_buffer"
    keep_state_dict: bool = False
    exclude: tuple[str, ...] = ()
    module_bases: tuple[str, ...] = ()

    def selects(self, code: str) -> bool:
        """ruff-style prefix selection: ``NR`` selects all, ``NR001`` one code; ignore wins."""
        return any(code.startswith(s) for s in self.select) and not any(code.startswith(i) for i in self.ignore)


CHOICES = {
    "ambiguous": ("buffer", "parameter", "skip"),
    "persistent": ("auto", "always", "never"),
    "buffer_style": ("register_buffer", "nn.Buffer"),
}
_TUPLES = {"select", "ignore", "exclude", "module_bases"}


def find_pyproject(start: Path) -> Path | None:
    """Nearest ``pyproject.toml`` with a ``[tool.nnreg]`` table, from ``start`` upwards."""
    start = start.absolute()
    for directory in [start, *start.parents] if start.is_dir() else list(start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and "nnreg" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_table(config_file: Path | None, start: Path) -> tuple[dict[str, Any], Path | None]:
    """The nnreg settings table and the file it came from (``--config`` wins over discovery)."""
    path = config_file or find_pyproject(start)
    if path is None:
        return {}, None
    data = _read_toml(path)
    table = data.get("tool", {}).get("nnreg", data if config_file and "tool" not in data else {})
    return table, path


def build_options(table: dict[str, Any], overrides: dict[str, Any]) -> Options:
    """Merge config (keys spelled like the long options) with command-line values that were given."""
    known = {f.name for f in fields(Options)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name == "confirm":
            continue  # the runtime probe's own table
        if name not in known:
            raise ConfigError(f"unknown key '{key}' in [tool.nnreg]")
        values[name] = value
    values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    for name, value in values.items():
        if name in _TUPLES:
            values[name] = tuple([value] if isinstance(value, str) else value)
        if name in CHOICES and value not in CHOICES[name]:
            raise ConfigError(f"{name.replace('_', '-')} must be one of {', '.join(CHOICES[name])}, not {value!r}")
    if not 0.0 <= float(values.get("min_confidence", 0.0)) <= 1.0:
        raise ConfigError("min-confidence must be between 0 and 1")
    return Options(**values)
