"""The long-term memory (`inference.longterm`): a fixed budget of given masks, recent frames
and prototypes chosen by how much the readout used them, checked against hand-made keys,
usage and the softmax formula; unbounded it reads exactly as the original's memory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gsfm.inference.longterm import GIVEN, LONG_TERM, WORKING, LongTermMemory
from gsfm.inference.predictor import VideoPredictor
from gsfm.synthetic.clips import make_clip

CK, CV, H, W = 4, 3, 1, 2  # two entries per frame


def frame(fill: float, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((1, CK, H, W), fill), torch.full((1, n, CV, H, W), fill)


def stored_fills(bank: LongTermMemory) -> list[float]:
    return bank.keys()[0, 0, :, 0, 0].tolist()


def test_budget_keeps_the_first_frame_recent_frames_and_prototypes():
    bank = LongTermMemory(budget=8, long_term=2, consolidate=3)
    bank.add_objects(1)
    bank.add(*frame(0.0), time=0, permanent=True)
    for t in range(1, 40):
        bank.add(*frame(float(t)), time=t)
        assert bank.num_frames <= 8 and bank.capacity == 8
        assert bank.kinds.count(LONG_TERM) <= 2
        # used slots are contiguous and every working/given slot holds its own frame
        for slot, (kind, when) in enumerate(zip(bank.kinds, bank.times)):
            if kind != LONG_TERM:
                assert stored_fills(bank)[slot] == when
    assert bank.kinds.count(GIVEN) == 1 and 0 in bank.times
    working = sorted(t for t, k in zip(bank.times, bank.kinds) if k == WORKING)
    assert working == list(range(39 - len(working) + 1, 40))  # the most recent, none missing
    assert bank.kinds.count(LONG_TERM) == 2 and bank.consolidations > 3


def test_prototypes_are_the_most_used_entries_and_their_potentiated_values():
    """Frames 1-3 are consolidated (consolidate=3, one long-term slot = 2 entries). Reads put
    all weight on frame 2's entry 1 and frame 3's entry 0: those keys are kept, and each
    prototype's value is the softmax readout (top_k=None) of its key over the 6 candidates."""
    bank = LongTermMemory(budget=5, long_term=1, consolidate=3, top_k=None)
    bank.add_objects(1)
    bank.add(*frame(0.0), time=0, permanent=True)
    keys = {1: [[0.0, 1.0]], 2: [[2.0, 3.0]], 3: [[4.0, 5.0]], 4: [[6.0, 7.0]]}
    for t in (1, 2, 3, 4):
        key = torch.tensor(keys[t]).view(1, 1, 1, 2).repeat(1, CK, 1, 1)
        value = torch.tensor(keys[t]).view(1, 1, 1, 1, 2).repeat(1, 1, CV, 1, 1) * 10
        bank.add(key, value, time=t, masks=torch.full((1, 1, 2), t / 10))
    # one read: entries are slot-major, (slot, position); frame t is slot t here
    m = bank.num_frames * 2
    affinity = torch.full((1, 2, m), -1e4)
    affinity[0, 0, 2 * 2 + 1] = 0.0  # frame 2, position 1
    affinity[0, 1, 3 * 2 + 0] = 0.0  # frame 3, position 0
    bank.top_k = 1
    bank.record_reads(affinity)
    bank.top_k = None
    bank.add(*frame(9.0), time=5)  # full: frames 1-3 consolidate
    (slot,) = [i for i, k in enumerate(bank.kinds) if k == LONG_TERM]
    proto = sorted(bank.keys()[0, 0, slot].flatten().tolist())
    assert proto == [3.0, 4.0]
    assert bank.times[slot] == 2  # the earliest frame its entries come from
    cand = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    for position in range(2):
        k = bank.keys()[0, 0, slot].flatten()[position]
        logits = (2 * k * cand - cand**2) * CK / math.sqrt(CK)  # all Ck channels equal
        weights = torch.softmax(logits, 0)
        expect = float((weights * cand * 10).sum())
        got = bank.values_by_position()[0, slot * 2 + position, 0, 0].item()
        assert got == pytest.approx(expect, rel=1e-5)
        masks = torch.tensor([0.1, 0.1, 0.2, 0.2, 0.3, 0.3])
        got_mask = bank.object_masks()[slot * 2 + position, 0].item()
        assert got_mask == pytest.approx(float((weights * masks).sum()), rel=1e-5)
    assert sorted(t for t, k in zip(bank.times, bank.kinds) if k == WORKING) == [4, 5]


def test_only_given_frames_left_drops_the_oldest_given_but_the_first(caplog):
    bank = LongTermMemory(budget=4, long_term=1, consolidate=2)
    bank.add_objects(1)
    for t in range(6):
        bank.add(*frame(float(t)), time=t, permanent=True)
    assert bank.num_frames == 4 and 0 in bank.times and 5 in bank.times
    assert "full of given masks" in caplog.text


def test_budget_too_small_is_refused():
    with pytest.raises(ValueError):
        LongTermMemory(budget=4, long_term=2, consolidate=2)


def test_objects_joining_later_get_zero_values_and_masks():
    bank = LongTermMemory(budget=None)
    bank.add_objects(1)
    bank.add(*frame(1.0), time=0, permanent=True, masks=torch.ones(1, H, W))
    bank.add_objects(1)
    bank.add(*frame(2.0, n=2), time=3, masks=torch.ones(2, H, W))
    assert bank.values_by_position()[0, :2, 1].abs().sum() == 0
    assert bank.object_masks()[:, 1].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert bank.valid_slots(3).tolist() == [False, True]


def test_unbounded_reads_as_the_original_memory():
    clip = make_clip(3, 24, 96, 160, 2, distractors=1)
    plain = VideoPredictor.from_weights("gsfm-tiny", device="cpu", size=None)
    long_term = VideoPredictor.from_weights(
        "gsfm-tiny", device="cpu", size=None, memory="long-term"
    )
    a = list(plain.segment(list(clip.frames), clip.masks[0]))
    b = list(long_term.segment(list(clip.frames), clip.masks[0]))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert long_term.engine.bank.num_frames == plain.engine.bank.num_frames


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_object_share_keeps_an_object_the_readout_seldom_used(share):
    """Frames 1-3 consolidate into one long-term slot of 2 entries. Only frame 1's entry 0
    holds the object (mask 1); the reads went to background entries (frame 2's entry 1 most,
    frame 3's entry 0 next). By usage alone the two background entries are kept and the
    object is forgotten; with half the slots reserved for objects, the object's entry is
    kept beside the most used background entry."""
    bank = LongTermMemory(budget=5, long_term=1, consolidate=3, top_k=None, object_share=share)
    bank.add_objects(1)
    bank.add(*frame(0.0), time=0, permanent=True)
    for t in (1, 2, 3, 4):
        key = torch.tensor([[10.0 * t, 10.0 * t + 1]]).view(1, 1, 1, 2).repeat(1, CK, 1, 1)
        masks = torch.tensor([[[1.0 if t == 1 else 0.0, 0.0]]])
        bank.add(key, torch.zeros(1, 1, CV, 1, 2), time=t, masks=masks)
    m = bank.num_frames * 2
    affinity = torch.full((1, 3, m), -1e4)
    affinity[0, 0, 2 * 2 + 1] = 0.0  # frame 2, position 1: read twice
    affinity[0, 1, 2 * 2 + 1] = 0.0
    affinity[0, 2, 3 * 2 + 0] = 0.0  # frame 3, position 0: read once
    bank.top_k = 1
    bank.record_reads(affinity)
    bank.top_k = None
    bank.add(*frame(99.0), time=5)  # full: frames 1-3 consolidate
    (slot,) = [i for i, k in enumerate(bank.kinds) if k == LONG_TERM]
    kept = sorted(bank.keys()[0, 0, slot].flatten().tolist())
    assert kept == ([10.0, 21.0] if share else [21.0, 30.0])
    object_mask = max(bank.object_masks()[slot * 2 : slot * 2 + 2, 0].tolist())
    assert (object_mask > 0.5) == bool(share)
