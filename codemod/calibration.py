"""From the evidence score of a finding to a calibrated confidence: the fraction of rewrites with that
score that were right on the labelled corpora.

The score (SPEC 3) combines the weights of the evidence; alone it is not a probability. The table
below maps score bins to the observed precision of rewrites in those bins, measured by
``python scripts/evaluate.py --write-calibration`` over the labelled rounds used for tuning (never the
held-out round). The values are smoothed (one right and one wrong rewrite added to every bin) and
made non-decreasing in the score, so a higher score never means a lower confidence.
"""

from __future__ import annotations

import bisect

# (lowest score of the bin, calibrated confidence); generated, see the module docstring
TABLE: tuple[tuple[float, float], ...] = ((0.0, 0.5),)


def calibrated(score: float) -> float:
    """The calibrated confidence of a rewrite whose evidence scores ``score``."""
    lows = [low for low, _ in TABLE]
    return TABLE[max(0, bisect.bisect_right(lows, score) - 1)][1]
