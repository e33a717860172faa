"""Measure nnreg's accuracy against the hand-labelled real-world manifest.

    python scripts/evaluate.py                                # figures, misses, false positives
    python scripts/evaluate.py --min-precision 0.95 --min-recall 0.85   # also exit 1 below these

Every distribution named in ``tests/realworld/manifest.tsv`` is downloaded from PyPI with its
sha256 checked by pip (into ``.corpora/``, ignored by git; nothing third-party is vendored), and
``nnreg check --format json`` runs on each unpacked tree with default options. A finding counts as
"rewritten" when its status is ``fixed``: the figures measure what ``nnreg fix`` would change.

- precision: rewritten candidates labelled PARAM/BUFFER_* over all rewritten candidates;
- recall: rewritten positives over all positives ("reported" recall also counts positives that
  nnreg reports as ambiguous/unsafe/unconfirmed without rewriting them);
- strict precision and recall: the same, counting a rewrite right only when it makes the kind the
  label names (a Parameter for PARAM, a buffer for BUFFER_*), the measure issue 10's targets use;
- kind agreement: among rewritten positives, Parameter vs buffer as labelled;
- persistent agreement: among rewritten buffers labelled as buffers, ``persistent`` as labelled;
- rewrites outside the manifest: ``fixed`` findings in these distributions that nobody labelled.

Tensor rows (labels PARAM, BUFFER_*) are scored against NR001/NR002 alone (``--select NR0``); with
``--containers`` the rows are plain containers (labels MODULES, PARAMS, BUFFERS, LEAVE) scored against
NR101/NR102 (``--select NR1``). A container is "acted on" when ``fix`` rewrites it (nn.ModuleList &
co), or, for constant tensors, which have no torch container, when NR102 reports it with the fix to
make by hand and no other refusal: precision and recall count those acts.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from corpus import CACHE, fetch_all  # noqa: E402

from codemod.discovery import repository_root  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests" / "realworld" / "manifest.tsv"
COLUMNS = ["distribution", "sha256", "file", "class", "attribute", "line", "label", "rationale"]
LABELS = {"PARAM", "BUFFER_PERSISTENT", "BUFFER_NONPERSISTENT", "LEAVE"}
CONTAINER_LABELS = {"MODULES", "PARAMS", "BUFFERS", "LEAVE"}
# what NR101/NR102 did to a container, in the words of the labels
CONTAINER_ACTS = {"module-list": "modules", "module-dict": "modules", "parameter-list": "params",
                  "parameter-dict": "params"}


@dataclass(frozen=True)
class Candidate:
    """One labelled tensor attribute of a module class in a pinned distribution."""

    distribution: str
    sha256: str
    file: str
    class_name: str
    attribute: str
    line: int
    label: str
    rationale: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.distribution, self.file, self.class_name, self.attribute)

    @property
    def positive(self) -> bool:
        return self.label != "LEAVE"

    @property
    def kind(self) -> str | None:
        if self.label in CONTAINER_LABELS:
            return {"MODULES": "modules", "PARAMS": "params", "BUFFERS": "buffers"}.get(self.label)
        return {"PARAM": "parameter", "LEAVE": None}.get(self.label, "buffer")

    def where(self) -> str:
        return f"{self.distribution} {self.file}:{self.line} {self.class_name}.{self.attribute}"


@dataclass
class Outcome:
    """A candidate and the finding nnreg reported for it, if any."""

    candidate: Candidate
    finding: dict | None

    @property
    def rewritten(self) -> bool:
        return self.finding is not None and self.finding["status"] == "fixed"

    def describe(self) -> str:
        if self.finding is None:
            verdict = "no finding"
        else:
            f = self.finding
            verdict = f"{f['status']} {f['action']}"
            if f["action"] == "buffer":
                verdict += f" persistent={f['persistent']}"
            verdict += f" ({'; '.join(f['reasons'])})"
        return f"{self.candidate.where()} [{self.candidate.label}] -> {verdict}"


@dataclass
class Report:
    outcomes: list[Outcome]
    outside: list[str] = field(default_factory=list)

    def _count(self, predicate) -> int:
        return sum(1 for o in self.outcomes if predicate(o))

    @property
    def positives(self) -> int:
        return self._count(lambda o: o.candidate.positive)

    @property
    def true_positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.rewritten and o.candidate.positive]

    @property
    def false_positives(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.rewritten and not o.candidate.positive]

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.candidate.positive and not o.rewritten]

    @property
    def precision(self) -> float:
        rewritten = len(self.true_positives) + len(self.false_positives)
        return len(self.true_positives) / rewritten if rewritten else 1.0

    @property
    def recall(self) -> float:
        return len(self.true_positives) / self.positives if self.positives else 1.0

    @property
    def reported_recall(self) -> float:
        reported = self._count(lambda o: o.candidate.positive and o.finding is not None)
        return reported / self.positives if self.positives else 1.0

    @property
    def strictly_right(self) -> list[Outcome]:
        """Rewrites that register the kind the label names."""
        return [o for o in self.true_positives if o.finding["action"] == o.candidate.kind]

    def strict_precision(self) -> tuple[int, int]:
        return len(self.strictly_right), len(self.true_positives) + len(self.false_positives)

    def strict_recall(self) -> tuple[int, int]:
        return len(self.strictly_right), self.positives

    @property
    def kind_disagreements(self) -> list[Outcome]:
        return [o for o in self.true_positives if o.finding["action"] != o.candidate.kind]

    @property
    def persistent_disagreements(self) -> list[Outcome]:
        return [o for o in self._buffers() if o.finding["persistent"] != (o.candidate.label == "BUFFER_PERSISTENT")]

    def _buffers(self) -> list[Outcome]:
        return [o for o in self.true_positives if o.candidate.kind == "buffer" and o.finding["action"] == "buffer"]

    def kind_agreement(self) -> tuple[int, int]:
        return len(self.true_positives) - len(self.kind_disagreements), len(self.true_positives)

    def persistent_agreement(self) -> tuple[int, int]:
        return len(self._buffers()) - len(self.persistent_disagreements), len(self._buffers())


def read_manifest(path: Path = MANIFEST, labels: set[str] = LABELS) -> list[Candidate]:
    """Parse and validate the manifest: exact columns, known labels, one row per attribute."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if reader.fieldnames != COLUMNS:
            raise SystemExit(f"{path}: columns must be {COLUMNS}, got {reader.fieldnames}")
        candidates = [
            Candidate(row["distribution"], row["sha256"], row["file"], row["class"], row["attribute"],
                      int(row["line"]), row["label"], row["rationale"])
            for row in reader
        ]
    problems = [f"unknown label {c.label!r}: {c.where()}" for c in candidates if c.label not in labels]
    problems += [f"no rationale: {c.where()}" for c in candidates if not c.rationale.strip()]
    counts = Counter(c.key for c in candidates)
    problems += [f"listed twice: {' '.join(key)}" for key, n in counts.items() if n > 1]
    hashes = defaultdict(set)
    for c in candidates:
        hashes[c.distribution].add(c.sha256)
    problems += [f"{d}: more than one sha256" for d, shas in hashes.items() if len(shas) > 1]
    if problems:
        raise SystemExit("manifest problems:\n  " + "\n  ".join(problems))
    return candidates


def stale_rows(candidates: list[Candidate], roots: dict[str, Path]) -> list[str]:
    """Rows whose line does not assign ``self.<attribute>`` in the unpacked file."""
    stale = []
    for c in candidates:
        path = roots[c.distribution] / c.file
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        if not 0 < c.line <= len(lines) or f".{c.attribute}" not in lines[c.line - 1]:
            stale.append(c.where())
    return stale


def run_nnreg(root: Path, jobs: int, containers: bool = False) -> list[dict]:
    """Findings of ``nnreg check`` on one unpacked tree, with paths relative to that tree: of the tensor
    rules, or with ``containers`` of the container rules, their acts named as the labels name them."""
    result = subprocess.run(
        [sys.executable, "-m", "codemod", "check", "--format", "json", "-q", "--no-cache", "-j", str(jobs),
         "--select", "NR1" if containers else "NR0", "."],
        cwd=root, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"nnreg failed on {root} (exit {result.returncode}):\n{result.stderr}")
    report = json.loads(result.stdout)
    base = repository_root(root)  # nnreg reports paths relative to this
    for finding in report["findings"]:
        finding["path"] = (base / finding["path"]).resolve().relative_to(root.resolve()).as_posix()
        if containers:
            _name_container_act(finding)
    return report["findings"]


def _name_container_act(finding: dict) -> None:
    """``action`` as the labels say it; constant tensors reported with the hand fix and nothing else
    against it count as acted on (``status`` fixed), since no rewrite exists for them."""
    refusals = [c for c in finding["reason_codes"] if c[0] in "RDS"]
    if finding["code"] == "NR102" and refusals == ["R-NO-TORCH-CONTAINER"]:
        finding["status"], finding["action"] = "fixed", "buffers"
    else:
        finding["action"] = CONTAINER_ACTS.get(finding["action"], finding["action"])


def _class_path(name: str) -> str:
    """``Outer.method.<locals>.Inner`` as the enumerator names it, ``Outer.Inner``: a class defined in a
    function is one class wherever the name is read from."""
    parts = name.split(".")
    return ".".join(p for i, p in enumerate(parts) if p != "<locals>" and parts[i + 1:i + 2] != ["<locals>"])


def score(candidates: list[Candidate], findings: dict[str, list[dict]]) -> Report:
    by_key = {}
    for distribution, items in findings.items():
        for f in items:
            by_key[(distribution, f["path"], _class_path(f["class"]), f["attribute"])] = f
    report = Report([Outcome(c, by_key.get(c.key)) for c in candidates])
    labelled = {c.key for c in candidates}
    for key, f in sorted(by_key.items()):
        if f["status"] == "fixed" and key not in labelled:
            report.outside.append(f"{key[0]} {f['path']}:{f['line']} {f['class']}.{f['attribute']} -> {f['action']}")
    return report


def _ratio(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "n/a (0/0)"


def format_report(report: Report) -> str:
    labels = Counter(o.candidate.label for o in report.outcomes)
    distributions = {o.candidate.distribution for o in report.outcomes}
    tp, fp = len(report.true_positives), len(report.false_positives)
    lines = [
        f"manifest: {len(report.outcomes)} candidates from {len(distributions)} distributions "
        f"({', '.join(f'{k} {labels[k]}' for k in sorted(labels))})",
        f"precision of rewrites: {_ratio(tp, tp + fp)}",
        f"recall of rewrites: {_ratio(tp, report.positives)}",
        f"strict precision (the kind as labelled): {_ratio(*report.strict_precision())}",
        f"strict recall (the kind as labelled): {_ratio(*report.strict_recall())}",
        f"reported recall (rewritten or reported): {report.reported_recall:.3f}",
        f"Parameter/buffer agreement: {_ratio(*report.kind_agreement())}",
        f"persistent agreement: {_ratio(*report.persistent_agreement())}",
        f"rewrites outside the manifest: {len(report.outside)}",
    ]
    for title, items in (("false positives", [o.describe() for o in report.false_positives]),
                         ("misses", [o.describe() for o in report.misses]),
                         ("Parameter/buffer disagreements", [o.describe() for o in report.kind_disagreements]),
                         ("persistent disagreements", [o.describe() for o in report.persistent_disagreements]),
                         ("rewrites outside the manifest", report.outside)):
        lines.append(f"\n{title} ({len(items)}):")
        lines += [f"  {item}" for item in items] or ["  none"]
    return "\n".join(lines)


CALIBRATION = ROOT / "codemod" / "calibration.py"
SCORE_BINS = (0.0, 0.6, 0.7, 0.8, 0.9, 0.95)


def _bin(score: float) -> float:
    return max(low for low in SCORE_BINS if score >= low)


def calibration_rows(report: Report) -> list[tuple[float, float, int, int]]:
    """Per score bin: the mean reported confidence, rewrites right (kind as labelled) and rewrites."""
    bins: dict[float, list[tuple[float, bool]]] = defaultdict(list)
    for o in report.outcomes:
        if o.rewritten:
            right = o.candidate.kind == o.finding["action"]
            bins[_bin(o.finding.get("score", o.finding["confidence"]))].append((o.finding["confidence"], right))
    return [(low, sum(c for c, _ in items) / len(items), sum(r for _, r in items), len(items))
            for low, items in sorted(bins.items())]


def format_calibration(rows: list[tuple[float, float, int, int]]) -> str:
    lines = ["| score bin | rewrites | right | fraction right | mean reported confidence |", "| --- | ---: | ---: | ---: | ---: |"]
    for low, mean, right, total in rows:
        high = next((b for b in SCORE_BINS if b > low), 1.0)
        lines.append(f"| {low:.2f}-{high:.2f} | {total} | {right} | {right / total:.2f} | {mean:.2f} |")
    return "\n".join(lines)


def write_calibration(rows: list[tuple[float, float, int, int]], path: Path = CALIBRATION) -> None:
    """Smoothed fraction right per bin (one right and one wrong added), made non-decreasing."""
    table: list[tuple[float, float]] = []
    for low, _mean, right, total in rows:
        value, start = (right + 1) / (total + 2), low
        while table and table[-1][1] > value:  # pool adjacent violators, weighted equally
            start, earlier = table.pop()
            value = (earlier + value) / 2
        table.append((start, round(value, 2)))
    text = path.read_text()
    start = text.index("TABLE: tuple")
    end = text.index("\n", start)
    path.write_text(text[:start] + f"TABLE: tuple[tuple[float, float], ...] = {tuple(table)!r}" + text[end:])


def write_dump(report: Report, path: Path) -> None:
    """Every outcome as one JSON line: the labelled row and nnreg's finding (or null)."""
    with path.open("w", encoding="utf-8") as out:
        for outcome in report.outcomes:
            out.write(json.dumps({"row": asdict(outcome.candidate), "finding": outcome.finding}) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, action="append",
                        help="labelled rows to score (repeatable; default tests/realworld/manifest.tsv)")
    parser.add_argument("--calibration", action="store_true", help="print the calibration table of rewrites")
    parser.add_argument("--write-calibration", action="store_true",
                        help="write the smoothed table into codemod/calibration.py (tuning rounds only)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where wheels are downloaded and unpacked")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dump", type=Path, help="write every labelled row with nnreg's finding as JSON lines, for reading "
                        "what a rule does to rows it did not change")
    parser.add_argument("--containers", action="store_true",
                        help="the manifests label plain containers (MODULES/PARAMS/BUFFERS/LEAVE): score NR101/NR102")
    parser.add_argument("--min-precision", type=float, default=0.0)
    parser.add_argument("--min-recall", type=float, default=0.0)
    args = parser.parse_args()

    labels = CONTAINER_LABELS if args.containers else LABELS
    candidates = [c for manifest in (args.manifest or [MANIFEST]) for c in read_manifest(manifest, labels)]
    pins = {c.distribution: c.sha256 for c in candidates}
    roots = fetch_all(pins, args.cache)
    stale = stale_rows(candidates, roots)
    if stale:
        raise SystemExit("manifest rows that do not point at an assignment:\n  " + "\n  ".join(stale))
    findings = {distribution: run_nnreg(root, args.jobs, args.containers) for distribution, root in sorted(roots.items())}
    report = score(candidates, findings)
    print(format_report(report))
    if args.dump:
        write_dump(report, args.dump)
    if args.calibration or args.write_calibration:
        rows = calibration_rows(report)
        print("\ncalibration (rewrites by evidence score):\n" + format_calibration(rows))
        if args.write_calibration:
            write_calibration(rows)
    failed = [f"{name} {value:.3f} < {floor}" for name, value, floor in
              (("precision", report.precision, args.min_precision), ("recall", report.recall, args.min_recall))
              if value < floor]
    if failed:
        print(f"\nFAILED: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
