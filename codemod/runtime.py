"""Runtime confirmation (SPEC section 5): nnreg's side of the probe.

The probe (``probe.py``) runs in a separate process under the interpreter of the user's project
(``--python``), with a timeout, because building a module executes repository code. A crash, a hang,
``sys.exit`` or a segfault in user code becomes an error on the classes it hit, never a crash here.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import select
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .tracing import TraceEvidence

PROBE = Path(__file__).with_name("probe.py")
STARTUP_TIMEOUT = 300.0  # interpreter start-up and ``import torch``: not counted in --confirm-timeout
_KEPT = frozenset({"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR", "TEMP",
                   "TMP", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "OMP_NUM_THREADS",
                   "MKL_NUM_THREADS", "SYSTEMROOT"})
_KEPT_PREFIXES = ("LC_", "CONDA_", "CUDA_", "NVIDIA_", "TORCH_", "PYTORCH_", "XDG_")
# Why the probe did not build a class, as counted in the summary line and the JSON report.
NOT_BUILT = {"needs-arguments": "need constructor arguments", "raised": "raised while building",
             "import": "could not be imported", "not-found": "not found in the module", "timeout": "timed out",
             "crashed": "the probe died"}
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|API_?KEY|ACCESS_?KEY|PRIVATE|SESSION|COOKIE", re.I)


@dataclass(frozen=True)
class ConfirmSettings:
    python: str
    device: str = "auto"
    timeout: float = 60.0
    memory_gib: float = 8.0
    classes: dict[str, dict[str, Any]] = field(default_factory=dict)  # "pkg.mod:Class" -> args/kwargs/inputs

    def request(self, module: str, qualname: str, candidates: list[str]) -> dict[str, Any]:
        """What the probe needs for one class: the attributes to look at, and the class's own
        ``args``/``kwargs``/``inputs`` from ``[tool.nnreg.confirm]``."""
        return {"qualname": qualname, "candidates": candidates, **self.classes.get(f"{module}:{qualname}", {})}


# Where runtime evidence comes from: the probe, run now (--confirm), or a run recorded by ``nnreg trace``.
RuntimeEvidence = ConfirmSettings | TraceEvidence


@dataclass(frozen=True)
class ProbeFailure:
    """Why a probe process ended without reporting on the class it was building."""

    why: str  # "timeout" or "crashed"
    text: str


class ProbeSetupError(Exception):
    """``--python`` or ``--device`` cannot work: a usage error, found before any file is read."""


def check_interpreter(python: str, device: str) -> None:
    """Start ``python`` once, outside the repository, to see that it imports torch and, for
    ``--device cuda``, that CUDA is there. Runs no repository code."""
    code = "import sys, torch; sys.stdout.write(str(torch.cuda.is_available()))"
    with tempfile.TemporaryDirectory(prefix="nnreg-check-") as empty:
        try:
            completed = subprocess.run([python, "-B", "-c", code], cwd=empty, env=probe_environment(os.environ),
                                       stdin=subprocess.DEVNULL, capture_output=True, timeout=STARTUP_TIMEOUT)
        except OSError as exc:
            raise ProbeSetupError(f"--python {python}: cannot run it: {exc.strerror or exc}") from None
        except subprocess.TimeoutExpired:
            raise ProbeSetupError(f"--python {python}: did not import torch within {STARTUP_TIMEOUT:g} s") from None
    if completed.returncode != 0:
        tail = completed.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise ProbeSetupError(f"--python {python}: cannot import torch ({tail[0]})")
    if device == "cuda" and completed.stdout.strip() != b"True":
        raise ProbeSetupError(f"--device cuda: CUDA is not available to {python}")


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
                merged["classes"].setdefault(spec["qualname"], {"built": False, "error": report["error"],
                                                                "why": "import"})
            break
        pending = [spec for spec in pending if spec["qualname"] not in merged["classes"]]
        if failure and pending:
            merged["classes"][pending.pop(0)["qualname"]] = {"built": False, "error": failure.text,
                                                             "why": failure.why}
        elif not failure:
            break
    return merged


def _run_once(settings: ConfirmSettings, root: Path, module: str, path: Path, classes: list[dict[str, Any]],
              source: str | None) -> tuple[dict[str, Any], ProbeFailure | None]:
    """One probe process. Its time limit starts once it has imported torch (it says so on a pipe), so a
    slow interpreter start is not a timeout of user code; its whole process group is killed at the end."""
    with tempfile.TemporaryDirectory(prefix="nnreg-probe-") as scratch:
        request, result, log = (Path(scratch) / name for name in ("request.json", "result.json", "output.log"))
        request.write_text(json.dumps({"root": str(root), "module": module, "path": str(path), "source": source,
                                       "device": settings.device, "classes": classes}))
        ready_read, ready_write = os.pipe()
        try:
            with log.open("wb") as output:
                process = subprocess.Popen(
                    [settings.python, "-B", str(PROBE), str(request), str(result), str(ready_write)],
                    cwd=root, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=probe_environment(os.environ),
                    pass_fds=(ready_write,), start_new_session=True,
                    preexec_fn=functools.partial(_limit_memory, int(settings.memory_gib * 2**30)))
        except OSError as exc:
            return {"classes": {}, "error": f"cannot run {settings.python}: {exc.strerror or exc}"}, None
        finally:
            os.close(ready_write)
        try:
            failure = _wait(process, ready_read, settings.timeout)
        finally:
            os.close(ready_read)
            _kill_group(process)
        if failure is None and process.returncode != 0:
            failure = _exit_reason(process.returncode, log.read_bytes())
        return _read(result), failure


def _wait(process: subprocess.Popen[bytes], ready: int, timeout: float) -> ProbeFailure | None:
    """Wait for the probe: first for torch to be imported, then ``timeout`` seconds for the user code."""
    started = select.select([ready], [], [], STARTUP_TIMEOUT)[0]
    if not started:
        return ProbeFailure("timeout", f"the probe did not import torch within {STARTUP_TIMEOUT:g} s")
    if os.read(ready, 1):  # torch is imported: the user code's time starts now
        limit = timeout
    else:  # the pipe closed first: the probe is ending (torch missing, or it died)
        limit = STARTUP_TIMEOUT
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return ProbeFailure("timeout", f"the probe timed out after {timeout:g} s")
    return None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the probe and everything it started (a background child must not outlive nnreg)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _limit_memory(limit: int) -> None:
    """In the child, before exec: cap its data segment (RLIMIT_DATA counts heap and private writable
    mappings, not the address space CUDA reserves), so a runaway build fails with MemoryError."""
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def probe_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The probe's environment: the variables a Python process and torch need to run, nothing else. Tokens
    and credentials (``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ...) are not passed to repository code."""
    kept = {name: value for name, value in environ.items()
            if (name in _KEPT or name.startswith(_KEPT_PREFIXES)) and not _SECRET.search(name)}
    return {**kept, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}


def _exit_reason(code: int, output: bytes) -> ProbeFailure:
    tail = output.decode(errors="replace").strip().splitlines()[-1:] or [""]
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return ProbeFailure("crashed", f"the probe {how}" + (f": {tail[0]}" if tail[0] else ""))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"classes": {}, "error": None}
    return data if isinstance(data, dict) and isinstance(data.get("classes"), dict) else {"classes": {}, "error": None}
