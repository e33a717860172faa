"""``nnreg trace``: learn from the project's own runs, the way MonkeyType learns types from tests.

``run_trace`` runs the user's command with ``trace_hook.py`` loaded into every Python process (a
``sitecustomize`` on ``PYTHONPATH`` that chains to any the user already has), then merges what the
processes recorded into one JSON file. ``load_trace`` reads that file back as evidence for
``check/diff/fix/pr --trace FILE``, in the shape of the probe's reports, so that one set of rules
reads both; nothing runs at that point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOOK = Path(__file__).with_name("trace_hook.py")
DEFAULT_OUTPUT = Path(".nnreg_trace") / "trace.json"
TRACE_VERSION = 1

class TraceError(Exception):
    """A trace file that cannot be read; a usage error (exit 2)."""


def _sitecustomize(hook_dir: Path) -> str:
    """First on ``PYTHONPATH``: start the recorder, then run the user's own ``sitecustomize``, if any."""
    return (
        "import importlib, sys\n\n"
        "import nnreg_trace_hook\n\n"
        "nnreg_trace_hook.start()\n"
        f"_ours = {str(hook_dir)!r}\n"
        "_kept = [p for p in sys.path if p != _ours]\n"
        "_me = sys.modules.pop('sitecustomize')\n"
        "_saved, sys.path[:] = sys.path[:], _kept\n"
        "try:\n"
        "    importlib.import_module('sitecustomize')  # the user's own, if there is one\n"
        "except ImportError:\n"
        "    pass\n"
        "finally:\n"
        "    sys.path[:] = _saved\n"
        "    sys.modules.setdefault('sitecustomize', _me)  # site.py looks it up once this file has run\n"
    )


def run_trace(command: list[str], output: Path) -> int:
    """Run ``command`` with the recorder in every Python process; write the merged evidence to
    ``output`` (its folder gets a ``.gitignore`` when nnreg creates it). Returns the command's status."""
    with tempfile.TemporaryDirectory(prefix="nnreg-trace-") as scratch:
        hook_dir, records = Path(scratch) / "hook", Path(scratch) / "records"
        hook_dir.mkdir()
        records.mkdir()
        shutil.copyfile(HOOK, hook_dir / "nnreg_trace_hook.py")
        (hook_dir / "sitecustomize.py").write_text(_sitecustomize(hook_dir), encoding="utf-8")
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook_dir), environment.get("PYTHONPATH")]))
        environment["NNREG_TRACE_DIR"] = str(records)
        try:
            status = subprocess.call(command, env=environment)
        except OSError as exc:
            raise TraceError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
        merged = merge_records(json.loads(path.read_text(encoding="utf-8"))["records"]
                               for path in sorted(records.glob("trace-*.json")))
    _write_output(output, merged)
    return status


def merge_records(batches: Any) -> list[dict[str, Any]]:
    """One record per (file, class, attribute) across processes: counts add up, flags combine."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for batch in batches:
        for record in batch:
            key = (record["file"], record["class"], record["attribute"])
            if key not in merged:
                merged[key] = record
                continue
            into = merged[key]
            for kind, count in record["kinds"].items():
                into["kinds"][kind] = into["kinds"].get(kind, 0) + count
            for name in ("dtypes", "shapes", "devices", "sites"):
                into[name] += [v for v in record[name] if v not in into[name]]
            for flag in ("requires_grad", "mutated", "got_grad", "device_mismatch"):
                into[flag] = into[flag] or record[flag]
    return sorted(merged.values(), key=lambda r: (r["file"], r["class"], r["attribute"]))


def _write_output(output: Path, records: list[dict[str, Any]]) -> None:
    created = not output.parent.exists()
    output.parent.mkdir(parents=True, exist_ok=True)
    if created:
        (output.parent / ".gitignore").write_text("# written by nnreg trace\n*\n", encoding="utf-8")
    output.write_text(json.dumps({"version": TRACE_VERSION, "records": records}, indent=1) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class TraceEvidence:
    """The records of a trace file, by source file and class, turned into probe-shaped reports."""

    by_class: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def reports(self, path: Path) -> dict[str, dict[str, Any]]:
        """``{qualname: report}`` for the classes of ``path`` that the traced run built."""
        file = os.path.realpath(path)
        return {qualname: _report(attributes) for (traced, qualname), attributes in self.by_class.items()
                if traced == file}


def load_trace(path: Path) -> TraceEvidence:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version, records = data["version"], data["records"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TraceError(f"{path}: not a trace file written by nnreg trace ({type(exc).__name__}: {exc})") from None
    if version != TRACE_VERSION:
        raise TraceError(f"{path}: written by another version of nnreg trace; run it again")
    by_class: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for record in records:
        by_class.setdefault((record["file"], record["class"]), {})[record["attribute"]] = record
    return TraceEvidence(by_class)


def _report(attributes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the traced run saw of one class, in the form ``decision`` reads from the probe. Only what
    was observed is said: a tensor that never got a gradient is not reported as one that cannot."""
    entries = {name: _entry(record) for name, record in attributes.items()}
    return {"built": True, "source": "trace", "target": None, "attributes": entries, "forward_error": None,
            "left_behind": sorted(name for name, record in attributes.items() if record["device_mismatch"])}


def _entry(record: dict[str, Any]) -> dict[str, Any]:
    kinds = {kind for kind in record["kinds"] if kind != "NoneType"}
    others = sorted(kinds - {"tensor"})
    if not kinds:
        return {"kind": "NoneType"}
    if others:  # a value that is not always a plain tensor: a union, a registration, a module
        return {"kind": others[0]}
    entry: dict[str, Any] = {"kind": "tensor", "dtype": record["dtypes"][0], "shape": record["shapes"][0],
                             "device": record["devices"][0], "requires_grad": record["requires_grad"],
                             "mutated": record["mutated"]}
    if record["got_grad"]:
        entry["gets_grad"] = True
    return entry
