"""Runtime confirmation (SPEC section 5): nnreg's side of the probe.

The probe (``probe.py``) runs in a separate, fenced process under the interpreter of the user's project
(``--python``), with a timeout, because building a module executes repository code. A crash, a hang,
``sys.exit`` or a segfault in user code becomes an error on the classes it hit, never a crash here.
Each worker keeps one probe process for all its files (``ProbeSession``); results are cached
(``ProbeRunner``).
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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache, digest
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
             "crashed": "the probe died", "cells-stopped": "not reached: a notebook cell raised before it"}
_SECRET = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|API_?KEY|ACCESS_?KEY|PRIVATE|SESSION|COOKIE", re.I)


@dataclass(frozen=True)
class ConfirmSettings:
    python: str
    device: str = "auto"
    timeout: float = 60.0
    memory_gib: float = 8.0
    torch: str = ""  # the version --python imports, part of the probe cache's key
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


def check_interpreter(python: str, device: str) -> str:
    """Start ``python`` once, outside the repository, to see that it imports torch and, for
    ``--device cuda``, that CUDA is there; returns torch's version. Runs no repository code."""
    code = "import sys, torch; sys.stdout.write(f'{torch.__version__} {torch.cuda.is_available()}')"
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
    version, _, cuda = completed.stdout.decode().partition(" ")
    if device == "cuda" and cuda != "True":
        raise ProbeSetupError(f"--device cuda: CUDA is not available to {python}")
    return version


class ProbeSession:
    """One long-lived probe process, reused for every module file and class a worker probes, so that
    the interpreter starts and imports torch once. Requests and replies are JSON lines on two pipes;
    the time limit of each request starts when it is sent (torch is already imported by then). A
    crash or a timeout kills the process group; the next request starts a fresh process."""

    def __init__(self, settings: ConfirmSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self._requests = self._replies = -1
        self._buffer = b""
        self._log: Any = None

    def probe(self, request: dict[str, Any]) -> tuple[dict[str, Any], str | None, ProbeFailure | None]:
        """Send one request; returns the reports received, the module's import error, and why the
        process stopped answering (None when it answered ``done``)."""
        if self.process is None:
            failure = self._start(request["root"])
            if failure is not None:
                return {}, failure.text, None
        reports: dict[str, Any] = {}
        deadline = time.monotonic() + self.settings.timeout
        try:
            os.write(self._requests, json.dumps(request).encode() + b"\n")
        except OSError:
            return reports, None, self._stop()
        while True:
            message, failure = self._receive(deadline, f"the probe timed out after {self.settings.timeout:g} s")
            if failure is not None:
                return reports, None, failure
            if message.get("done"):
                return reports, message.get("error"), None
            reports[message["qualname"]] = message["report"]

    def _start(self, cwd: str) -> ProbeFailure | None:
        self._log = tempfile.TemporaryFile(prefix="nnreg-probe-")
        child_requests, self._requests = os.pipe()
        self._replies, child_replies = os.pipe()
        try:
            self.process = subprocess.Popen(
                [self.settings.python, "-B", str(PROBE), str(child_requests), str(child_replies)],
                cwd=cwd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                env=probe_environment(os.environ), pass_fds=(child_requests, child_replies), start_new_session=True,
                preexec_fn=functools.partial(_limit_memory, int(self.settings.memory_gib * 2**30)))
        except OSError as exc:
            self.close()
            return ProbeFailure("crashed", f"cannot run {self.settings.python}: {exc.strerror or exc}")
        finally:
            os.close(child_requests)
            os.close(child_replies)
        message, failure = self._receive(time.monotonic() + STARTUP_TIMEOUT,
                                         f"the probe did not import torch within {STARTUP_TIMEOUT:g} s")
        if failure is None and not message.get("ready"):
            self.close()
            failure = ProbeFailure("crashed", str(message.get("error")))
        return failure

    def _receive(self, deadline: float, late: str) -> tuple[dict[str, Any], ProbeFailure | None]:
        """The next reply line, or why there is none (the process died, or ``deadline`` passed)."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
                self._stop()
                return {}, ProbeFailure("timeout", late)
            chunk = os.read(self._replies, 65536)
            if not chunk:
                return {}, self._stop()
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line), None

    def _stop(self) -> ProbeFailure:
        """The process is gone or must go: why it ended, from its exit status and last output line."""
        assert self.process is not None
        _kill_group(self.process)
        code = self.process.returncode
        self._log.seek(0)
        failure = _exit_reason(code, self._log.read()[-4096:])
        self.close()
        return failure

    def close(self) -> None:
        """Kill the process group (a background child must not outlive nnreg) and release the pipes."""
        if self.process is not None and self.process.returncode is None:
            _kill_group(self.process)
        for fd in (self._requests, self._replies):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if self._log is not None:
            self._log.close()
        self.process, self._requests, self._replies, self._buffer, self._log = None, -1, -1, b"", None


class ProbeRunner:
    """Probes module files through one session, with results cached by everything they depend on:
    the file's bytes (or the rewritten source), the interpreter and its torch, the device, the recipe
    of each class, and nnreg's probe."""

    def __init__(self, settings: ConfirmSettings, cache: Cache | None) -> None:
        self.settings, self.cache = settings, cache
        self.session = ProbeSession(settings)
        self._probe = digest(PROBE.read_bytes()) if cache else ""

    def run(self, root: Path, module: str, path: Path, classes: list[dict[str, Any]],
            source: str, notebook: bool = False) -> dict[str, Any]:
        """``{qualname: report}`` for the classes of one module file, or of a notebook, whose code cells
        the probe runs in order. When the process dies or hangs, the class it was building gets the
        error and a fresh process probes the classes after it."""
        request = {"root": str(root), "module": module, "path": str(path), "device": self.settings.device,
                   "notebook": notebook}
        key = digest("probe", self._probe, self.settings.python, self.settings.torch, json.dumps(request),
                     json.dumps(classes, sort_keys=True), source) if self.cache else ""
        cached = self.cache.get("probe", key) if self.cache else None
        if cached is not None:
            return cached
        merged: dict[str, Any] = {}
        pending, crashed = list(classes), False
        while pending:
            reports, error, failure = self.session.probe({**request, "source": source, "classes": pending})
            merged.update(reports)
            if error:  # the module itself cannot be imported: every class shares the error
                merged.update({spec["qualname"]: {"built": False, "error": error, "why": "import"}
                               for spec in pending if spec["qualname"] not in merged})
                break
            pending = [spec for spec in pending if spec["qualname"] not in merged]
            if failure is None:
                break
            crashed = True
            if pending:
                merged[pending.pop(0)["qualname"]] = {"built": False, "error": failure.text, "why": failure.why}
        if self.cache and not crashed:  # a crash or a timeout may not happen again: probe again next time
            self.cache.put("probe", key, merged)
        return merged

    def close(self) -> None:
        self.session.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
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
