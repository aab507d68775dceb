"""The --check arithmetic on hand-made runs."""

from __future__ import annotations

import numpy as np

from gsfm.export.check import BackendRun, CheckResult


def test_differences_and_agreements_by_hand():
    # Two pixels: pixel 0 is decided (0.9 vs 0.1), pixel 1 a near-tie (0.5 vs 0.4995).
    ref_p = np.array([[[0.9, 0.5]], [[0.1, 0.4995]]], np.float32)  # [2 channels, 1, 2]
    cand_p = np.array([[[0.9, 0.4994]], [[0.1, 0.5001]]], np.float32)
    ref = BackendRun("a", [ref_p], [np.array([[0, 0]])], seconds=2.0)
    cand = BackendRun("b", [cand_p], [np.array([[0, 1]])], seconds=0.5)
    result = CheckResult(ref, cand, (1, 2), 1)
    assert abs(result.max_diff - 0.0006) < 1e-6
    assert result.label_agreement == 0.5
    assert result.decided_agreement(1e-3) == 1.0  # the flipped pixel was a near-tie
    assert result.decided_agreement(1e-5) == 0.5
    assert (ref.fps, cand.fps) == (0.5, 2.0)
    assert "largest probability difference: 6.00e-04" in "\n".join(result.lines())
