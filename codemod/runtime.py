"""Runtime confirmation (SPEC section 5): nnreg's side of the probe.

The probe (``probe.py``) runs in a separate process under the interpreter of the user's project
(``--python``), with a timeout, because building a module executes repository code. A crash, a hang,
``sys.exit`` or a segfault in user code becomes an error on the classes it hit, never a crash here.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("probe.py")


@dataclass(frozen=True)
class ConfirmSettings:
    python: str
    device: str = "auto"
    timeout: float = 60.0
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "pkg.mod:Class" -> args/kwargs/inputs

    def request(self, module: str, qualname: str, candidates: list[str]) -> dict[str, Any]:
        """What the probe needs for one class: the attributes to look at, and the class's own
        ``args``/``kwargs``/``inputs`` from ``[tool.nnreg.confirm]``."""
        return {"qualname": qualname, "candidates": candidates, **self.classes.get(f"{module}:{qualname}", {})}


def run_probe(settings: ConfirmSettings, root: Path, module: str, path: Path, classes: list[dict[str, Any]],
              source: str | None = None) -> dict[str, Any]:
    """Probe one module file; returns ``{"classes": {qualname: report}, "error": str | None}``.

    When the process dies or hangs, the class it was building gets the error and a fresh process
    probes the classes after it: one bad class does not stop the others."""
    merged: dict[str, Any] = {"classes": {}, "error": None}
    pending = list(classes)
    while pending:
        report, failure = _run_once(settings, root, module, path, pending, source)
        merged["classes"].update(report["classes"])
        if report.get("error"):  # the module itself cannot be imported: every class shares the error
            merged["error"] = report["error"]
            for spec in pending:
                merged["classes"].setdefault(spec["qualname"], {"built": False, "error": report["error"]})
            break
        pending = [spec for spec in pending if spec["qualname"] not in merged["classes"]]
        if failure and pending:
            merged["classes"][pending.pop(0)["qualname"]] = {"built": False, "error": failure}
        elif not failure:
            break
    return merged


def _run_once(settings: ConfirmSettings, root: Path, module: str, path: Path, classes: list[dict[str, Any]],
              source: str | None) -> tuple[dict[str, Any], str | None]:
    with tempfile.TemporaryDirectory(prefix="nnreg-probe-") as scratch:
        request, result = Path(scratch) / "request.json", Path(scratch) / "result.json"
        request.write_text(json.dumps({"root": str(root), "module": module, "path": str(path), "source": source,
                                       "device": settings.device, "classes": classes}))
        try:
            completed = subprocess.run([settings.python, str(PROBE), str(request), str(result)],
                                       cwd=root, capture_output=True, timeout=settings.timeout)
            failure = None if completed.returncode == 0 else _exit_reason(completed)
        except subprocess.TimeoutExpired:
            failure = f"the probe timed out after {settings.timeout:g} s"
        except OSError as exc:
            return {"classes": {}, "error": f"cannot run {settings.python}: {exc.strerror or exc}"}, None
        return _read(result), failure


def _exit_reason(completed: subprocess.CompletedProcess[bytes]) -> str:
    tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    code = completed.returncode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return f"the probe {how}" + (f": {tail[0]}" if tail[0] else "")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"classes": {}, "error": None}
    return data if isinstance(data, dict) and isinstance(data.get("classes"), dict) else {"classes": {}, "error": None}
