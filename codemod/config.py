"""Options: the ``[tool.nnreg]`` table of the nearest ``pyproject.toml``, overridden by the command line."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .rules import RULES

EXTENSIONS = ("py", "ipynb")  # the kinds of file nnreg reads


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
    force_exclude: bool = False
    module_bases: tuple[str, ...] = ()
    line_length: int = 88  # a rewritten statement longer than this is wrapped as black would
    extension: tuple[str, ...] = EXTENSIONS  # the kinds of file discovery takes from folders

    def selects(self, code: str) -> bool:
        """ruff-style prefix selection: ``NR`` selects all, ``NR001`` one code; ignore wins."""
        return any(code.startswith(s) for s in self.select) and not any(code.startswith(i) for i in self.ignore)


CHOICES = {
    "ambiguous": ("buffer", "parameter", "skip"),
    "persistent": ("auto", "always", "never"),
    "buffer_style": ("register_buffer", "nn.Buffer"),
    "device": ("auto", "cuda", "meta", "cpu"),
}
_TUPLES = {"select", "ignore", "exclude", "module_bases", "extension"}
_BOOLS = {"keep_state_dict", "force_exclude"}
_NUMBERS = {"min_confidence": (0.0, 1.0), "confirm_timeout": (1.0, None), "confirm_memory": (0.5, None)}
# Settings of ``--confirm`` that the config may hold. None of them turns execution on: only the command
# line (or NNREG_CONFIRM=1) does; ``confirm = true`` is ignored with a warning.
RUNTIME_KEYS = {"device", "python", "confirm_timeout", "confirm_memory"}


def formatter_line_length(start: Path) -> int | None:
    """The line length the project's formatter keeps, so rewrites fit in: ``[tool.ruff]``, else
    ``[tool.black]``, of the nearest ``pyproject.toml`` that sets one (``[tool.nnreg] line-length`` wins
    over both, in ``build_options``)."""
    start = start.absolute()
    for directory in [start, *start.parents] if start.is_dir() else list(start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            tools = _read_toml(candidate).get("tool", {})
            for tool in ("ruff", "black"):
                value = tools.get(tool, {}).get("line-length")
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
    return None


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


def selectors(values: tuple[str, ...], option: str) -> tuple[str, ...]:
    """Rule selectors, case-insensitive: ``ALL``, a code, or a prefix of one (``NR``, ``NR00``). A typo
    that selects nothing is an error, not a silent no-op."""
    normalised = tuple(value.strip().upper() for value in values)
    for value in normalised:
        if value != "ALL" and not any(code.startswith(value) for code in RULES):
            raise ConfigError(f"{option}: unknown rule selector '{value}' (known codes: {', '.join(RULES)})")
    return tuple("NR" if value == "ALL" else value for value in normalised)


def _checked(name: str, value: Any) -> Any:
    """One setting, checked by type: the message names the key and what it should be."""
    key = name.replace("_", "-")
    if name in _TUPLES:
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{key} must be a string or a list of strings, not {value!r}")
        if name == "extension" and not set(items) <= set(EXTENSIONS):
            unknown = sorted(set(items) - set(EXTENSIONS))
            raise ConfigError(f"{key} takes {', '.join(EXTENSIONS)}, not {', '.join(unknown)}")
        return selectors(tuple(items), key) if name in ("select", "ignore") else tuple(items)
    if name in _BOOLS and not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    if name in _NUMBERS:
        low, high = _NUMBERS[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number, not {value!r}")
        if value < low or (high is not None and value > high):
            raise ConfigError(f"{key} must be {f'between {low:g} and {high:g}' if high else f'at least {low:g}'}")
    if name in CHOICES and value not in CHOICES[name]:
        raise ConfigError(f"{key} must be one of {', '.join(CHOICES[name])}, not {value!r}")
    if name == "line_length" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"line-length must be a whole number of at least 1, not {value!r}")
    if name == "python" and not isinstance(value, str):
        raise ConfigError(f"python must be a path to an interpreter, not {value!r}")
    return value


def build_options(table: dict[str, Any], overrides: dict[str, Any], line_length: int | None = None) -> Options:
    """Merge config (keys spelled like the long options) with command-line values that were given;
    ``line_length`` is the formatter's, which ``[tool.nnreg] line-length`` overrides."""
    known = {f.name for f in fields(Options)}
    values: dict[str, Any] = {"line_length": line_length} if line_length is not None else {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name == "confirm" or name in RUNTIME_KEYS:
            continue  # the runtime probe's settings: see runtime_settings
        if name not in known:
            raise ConfigError(f"unknown key '{key}' in [tool.nnreg]")
        values[name] = _checked(name, value)
    values.update({k: _checked(k, v) for k, v in overrides.items() if v is not None and v != ()})
    return Options(**values)


def runtime_settings(table: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], bool]:
    """The probe's defaults from the config (``device``, ``python``, ``confirm-timeout``,
    ``confirm-memory``), its per-class recipes (``[tool.nnreg.confirm]``), and whether the config
    asked to turn it on (``confirm = true``), which nnreg ignores and warns about."""
    settings = {key.replace("-", "_"): value for key, value in table.items() if key.replace("-", "_") in RUNTIME_KEYS}
    settings = {name: _checked(name, value) for name, value in settings.items()}
    section = table.get("confirm", {})
    if isinstance(section, bool):
        return settings, {}, section
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise ConfigError("[tool.nnreg.confirm] must be a table of per-class recipes "
                          "(\"pkg.mod:Class\" = { args = [...], kwargs = {...}, inputs = \"...\" })")
    return settings, section, False


@dataclass(frozen=True)
class Setting:
    """One effective setting and where its value came from, for the pull request body: a reviewer
    can tell a choice made for this run from the project's configuration and from nnreg's default."""

    key: str
    value: str
    source: str


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value) if value else "(none)"
    return f"{value:g}" if isinstance(value, float) else str(value)


def effective_settings(options: Options, table: dict[str, Any], config_name: str | None,
                       given: set[str]) -> list[Setting]:
    """Every option's value, from the command line (``given``: the option names passed there), the
    config table, or the default, in that order of precedence (as ``build_options`` merges them)."""
    in_table = {key.replace("-", "_") for key in table}
    return [Setting(f.name.replace("_", "-"), _shown(getattr(options, f.name)),
                    "command line" if f.name in given else config_name if config_name and f.name in in_table
                    else "default")
            for f in fields(Options)]
