"""From the evidence score of a finding to a calibrated confidence: the fraction of rewrites with that
score that were right on the labelled corpora.

The score (SPEC 3) combines the weights of the evidence; alone it is not a probability. The table
below maps score bins to the observed precision of rewrites in those bins, measured by
``python scripts/evaluate.py --write-calibration`` over the labelled rounds used for tuning (every
round once its first look is taken: the manifest and rounds 3-10 today; never a round before its first look). The values are smoothed (one right and one wrong rewrite added to every bin) and
made non-decreasing in the score, so a higher score never means a lower confidence.
"""

from __future__ import annotations

import bisect

# (lowest score of the bin, calibrated confidence); generated, see the module docstring
TABLE: tuple[tuple[float, float], ...] = ((0.6, 0.75), (0.8, 0.86), (0.9, 0.89), (0.95, 0.92))


def calibrated(score: float) -> float:
    """The calibrated confidence of a rewrite whose evidence scores ``score``. Below the lowest bin
    (conflicting evidence, which ``fix`` never rewrites by default) there is nothing to calibrate
    against, and the score is returned as it is."""
    index = bisect.bisect_right([low for low, _ in TABLE], score) - 1
    return TABLE[index][1] if index >= 0 else score
