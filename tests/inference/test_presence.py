"""The presence test (`inference.presence`): its distances worked out by hand on made-up keys,
its hysteresis on made-up statistics, and, on generated long clips, what it does against the
ground truth: absent objects left empty, returning ones found again."""

from __future__ import annotations

import math

import pytest
import torch

from gsfm.inference.longterm import LongTermMemory
from gsfm.inference.presence import PresenceSettings, PresenceTest
from gsfm.model.readout import query_affinity


def test_distances_by_hand():
    """Memory: one frame of 3 entries (keys 0, 2, 10 on every channel) whose masks are 1, 0.3
    (an outline cell: neither object nor other) and 0. The frame's region is its first two
    cells (keys 1 and 9); the third (key 5) is outside it."""
    ck = 2
    bank = LongTermMemory(budget=None)
    bank.add_objects(1)
    key = torch.tensor([0.0, 2.0, 10.0]).view(1, 1, 1, 3).repeat(1, ck, 1, 1)
    bank.add(key, torch.zeros(1, 1, 3, 1, 3), 0, True, masks=torch.tensor([[[1.0, 0.3, 0.0]]]))
    query = torch.tensor([1.0, 9.0, 5.0]).view(1, 1, 1, 3).repeat(1, ck, 1, 1)
    affinity = query_affinity(bank.keys(), query)
    probs = torch.zeros(1, 16, 48)
    probs[0, :, :32] = 0.9  # the first two 16x16 cells
    stats = PresenceTest.statistics(probs, affinity, query, bank)
    assert stats["region"] == [2.0]
    # squared distances summed over the 2 channels; object entry: key 0; other: key 10
    # the region's cell nearest the object is key 1: 2 * 1^2 to the object (key 0), and
    # 2 * 9^2 from it to the other entry (key 10); key 2 (mask 0.3) is neither
    assert stats["obj_dist"][0] == pytest.approx(2.0)
    assert stats["bg_dist"][0] == pytest.approx(2 * 81.0)
    nothing = PresenceTest.statistics(torch.zeros(1, 16, 48), affinity, query, bank)
    assert nothing["region"] == [0.0] and math.isnan(nothing["obj_dist"][0])


class Scripted(PresenceTest):
    """The state machine fed with made-up statistics, one (obj_dist, bg_dist[, novelty]) per
    frame (novelty 1 unless given)."""

    def __init__(self, script, **settings):
        super().__init__(PresenceSettings(**settings))
        self.script = iter(script)
        self.add_objects(1)

    @staticmethod
    def statistics(probs, affinity, query_key, bank):
        raise AssertionError("replaced per instance")

    def run(self) -> list[tuple[bool, bool, bool]]:
        out = []
        for d_obj, d_other, *novel in self.script:
            region = 0.0 if d_obj is None else 3.0
            self.statistics = lambda *a, d=d_obj, o=d_other, r=region, n=novel: {  # type: ignore[method-assign]
                "region": [r],
                "obj_dist": [math.nan if d is None else d],
                "bg_dist": [math.nan if o is None else o],
                "novelty": [n[0] if n else 1.0],
                "core_dist": [math.nan],
            }
            probs = torch.ones(1, 4, 4)
            gated = self.gate(probs, None, None, None)
            out.append((self.present[0], bool(gated.sum() > 0), self.hold_write))
        return out


def test_hysteresis():
    s = dict(leave=3.0, ratio_out=0.6, ratio_in=0.5, cap=20.0, warmup=3)
    script = [
        (10.0, 50.0),
        (10.0, 50.0),
        (10.0, 50.0),  # usual (upper quartile of 10, 10, 10) = 10
        (31.0, 40.0),  # over 3x usual and not clearly the object (31 / 40 > 0.6): leaves
        (20.0, 30.0),  # 20 / 30 > 0.5: stays away
        (None, None),  # the decoder finds nothing: nothing to judge, stays away
        (12.0, 30.0),  # 12 / 30 < 0.5 and under 20x usual: back
        (12.0, 100.0),  # usual = upper quartile of 10, 10, 10, 12 = 10.5
        (40.0, 50.0),  # 3.8x usual, 40 / 50 > 0.6: leaves
        (15.0, 1000.0),  # clearly the object, under 20x usual: back
    ]
    states = Scripted(script, **s).run()
    present = [True, True, True, False, False, False, True, True, False, True]
    assert [p for p, _, _ in states] == present
    assert [kept for _, kept, _ in states] == present  # absent = emptied
    # frames where an absent object's decoder found something stay out of memory
    held = [False, False, False, True, True, False, False, False, True, False]
    assert [h for _, _, h in states] == held


def test_close_to_the_object_never_leaves_and_far_returns_are_capped():
    near = [(10.0, 50.0)] * 3 + [(45.0, 60.0)]  # 4.5x usual, ratio 0.75
    assert Scripted(near, ratio_out=0.8).run()[-1][0] is True  # 0.75 < 0.8: stays
    back = [(10.0, 50.0)] * 3 + [(100.0, 110.0), (300.0, 1000.0), (150.0, 1000.0)]
    states = Scripted(back, cap=20.0).run()
    assert [p for p, _, _ in states[3:]] == [False, False, True]  # 300 > 20 * 10; 150 < 200


def test_no_return_while_the_whole_frame_is_unlike_the_memory():
    """A cut to another scene: every cell is far from memory (novelty 1000x its usual), so
    even a region nearer the object than anything else is not the object's return; the
    frames with a look-alike are kept out of the novelty's usual level. A one-cell region
    leaves only in a new scene."""
    script = [(10.0, 50.0)] * 3 + [(50.0, 60.0, 1000.0)]  # leaves on entering the new scene
    script += [(30.0, 600.0, 1000.0)] * 20  # ratio 0.05, 3x usual: still not back
    script += [(30.0, 600.0, 5.0)]  # the scene is familiar again (under `cut`, 8x): back
    states = Scripted(script).run()
    assert [p for p, _, _ in states[3:]] == [False] * 21 + [True]
    assert all(h for _, _, h in states[3:-1])


def test_a_cut_leaves_even_where_the_region_matches_the_object():
    """A frame 10x as unlike the memory as usual (over `cut`, 8x) is a new scene: the
    object is judged absent though its region is as near its entries as usual, and it stays
    absent until a frame is familiar again (novelty under 8x). Without the rule (`cut` inf,
    the familiar level 100x) it stays present."""
    script = [(10.0, 50.0)] * 3 + [(10.0, 50.0, 10.0)] * 3 + [(10.0, 50.0, 2.0)]
    assert [p for p, _, _ in Scripted(script).run()] == [True] * 3 + [False] * 3 + [True]
    assert all(p for p, _, _ in Scripted(script, cut=math.inf).run())


def test_one_cell_leaves_only_in_a_new_scene():
    class OneCell(Scripted):
        def run(self):
            out = []
            for d_obj, d_other, novel in self.script:
                self.statistics = lambda *a, d=d_obj, o=d_other, n=novel: {  # type: ignore[method-assign]
                    "region": [1.0],
                    "obj_dist": [d],
                    "bg_dist": [o],
                    "novelty": [n],
                    "core_dist": [math.nan],
                }
                self.gate(torch.ones(1, 4, 4), None, None, None)
                out.append(self.present[0])
            return out

    warm = [(10.0, 50.0, 1.0)] * 3
    assert OneCell([*warm, (50.0, 60.0, 1.0)]).run()[-1] is True
    assert OneCell([*warm, (50.0, 60.0, 1000.0)]).run()[-1] is False


def test_leaves_when_far_from_the_given_and_long_term_entries():
    """The region still matches the last frames' entries (d_obj as usual: the false region
    was written there as the object) but not the first mask's or the prototypes'."""

    class Core(Scripted):
        def run(self):
            out = []
            for d_obj, d_core in self.script:
                self.statistics = lambda *a, d=d_obj, c=d_core: {  # type: ignore[method-assign]
                    "region": [3.0],
                    "obj_dist": [d],
                    "bg_dist": [50.0],
                    "novelty": [1.0],
                    "core_dist": [c],
                }
                self.gate(torch.ones(1, 4, 4), None, None, None)
                out.append(self.present[0])
            return out

    warm = [(10.0, 20.0)] * 3
    assert Core([*warm, (10.0, 70.0)]).run()[-1] is False  # 3.5x the usual core distance
    assert Core([*warm, (10.0, 50.0)]).run()[-1] is True
    assert Core([*warm, (10.0, 70.0)], core=False).run()[-1] is True


def test_leaves_when_the_region_spreads_over_the_frame():
    """The decoder paints most of the frame (a cut, or the object gone) where the object
    usually covers a few cells: absent, though the region matches the memory (d_obj as
    usual); it comes back only as a region of an object's size."""

    class Sizes(Scripted):
        def run(self):
            out = []
            for size in self.script:
                self.statistics = lambda *a, r=size: {  # type: ignore[method-assign]
                    "region": [r],
                    "obj_dist": [10.0],
                    "bg_dist": [100.0],
                    "novelty": [1.0],
                    "core_dist": [math.nan],
                    "cells": [100.0],
                }
                self.gate(torch.ones(1, 4, 4), None, None, None)
                out.append(self.present[0])
            return out

    warm = [5.0, 6.0, 5.0]  # usual size: upper quartile 5.5 cells of 100
    assert Sizes([*warm, 20.0]).run()[-1] is True  # 3.6x usual: grows, stays
    assert Sizes([*warm, 20.0], grow=3.0, spread=0.1).run()[-1] is False
    assert Sizes([*warm, 24.0]).run()[-1] is True  # 4.4x usual but under a quarter of the frame
    assert Sizes([*warm, 30.0]).run()[-1] is False  # 5.5x usual and 30% of the frame
    assert Sizes([*warm, 90.0, 90.0, 6.0]).run()[3:] == [False, False, True]
    assert Sizes([*warm, 90.0], spread=1.0).run()[-1] is True


def written(tiny_net, frames, settings=None, gate=None, masks=None, last=False) -> list:
    """Run a long-term engine with the presence test (a memory frame every frame) over
    `frames` random 32x32 frames; `masks` {frame: label map} (default: object 1 on frame
    0), `gate(engine)` replaces the test's judgement (None: the test itself, only
    measuring). Returns (the frames in memory, the engine)."""
    from gsfm.inference.engine import InferenceEngine

    engine = InferenceEngine(
        tiny_net, device="cpu", memory="long-term", presence=True, mem_every=1, size=None
    )
    if settings is not None:
        engine.presence.settings = settings
    if gate is None:
        engine.presence.acting = False
    else:

        def scripted(probs, *_):
            gate(engine, engine.frame_index - 1)
            return probs

        engine.presence.gate = scripted  # type: ignore[method-assign]
    if masks is None:
        first = torch.zeros(32, 32, dtype=torch.long)
        first[8:20, 8:20] = 1
        masks = {0: first}
    torch.manual_seed(0)
    for t in range(frames):
        frame = torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
        mask = masks.get(t)
        ids = None if mask is None else [int(mask.max())]
        engine.step(frame, mask, object_ids=ids, last_frame=last and t == frames - 1)
    return engine.bank.times, engine


def test_delayed_writes_are_dropped_when_an_object_leaves(tiny_net):
    """With `delay` 3 and a memory frame every frame, frame t's write waits until frame
    t + 3 is read. The test judges the object gone on frame 6: frames 3-5, queued, were
    the frames its mask was sliding off it and are never written; frame 6 on are kept."""

    def leaves_on_6(engine, t):
        engine.presence.left = t == 6

    times, _ = written(tiny_net, 10, PresenceSettings(delay=3), leaves_on_6, last=True)
    assert times == [0, 1, 2, 6]


def test_an_object_joining_writes_the_queued_frames_first(tiny_net):
    """Queued frames hold values for the objects tracked when they were encoded; a second
    object given on frame 4 writes them at once (then both objects' frames queue again)."""
    first = torch.zeros(32, 32, dtype=torch.long)
    first[8:20, 8:20] = 1
    second = torch.zeros(32, 32, dtype=torch.long)
    second[20:30, 20:30] = 2
    settings = PresenceSettings(delay=5, skip_unseen=False)
    times, engine = written(tiny_net, 7, settings, lambda *_: None, {0: first, 4: second})
    assert times == [0, 1, 2, 3, 4] and engine.bank.num_objects == 2
    assert [when for _, _, when, _ in engine._pending] == [5, 6]


def test_back_from_a_cut_at_a_share_of_its_novelty():
    """Usual novelty 1; a cut at 100 (over `cut` 8x): a new scene while novelty stays over
    a quarter of the cut's (25); back in the objects' scene at 20 (its look moved on: still
    20x the old usual) the object may return."""
    script = [(10.0, 50.0)] * 3 + [(10.0, 50.0, 100.0), (30.0, 600.0, 40.0), (30.0, 600.0, 20.0)]
    assert [p for p, _, _ in Scripted(script).run()[3:]] == [False, False, True]
    assert [p for p, _, _ in Scripted(script, scene_share=0.1).run()[3:]] == [False] * 3


def test_frames_where_no_object_is_seen_are_not_written(tiny_net):
    """`skip_unseen`: frames where the decoder finds no object (here frames 3-5, scripted)
    stay out of memory, so the recent frames keep the object for its return."""

    def unseen_3_to_5(engine, t):
        engine.presence.seen = t not in (3, 4, 5)

    def run(skip: bool) -> list[int]:
        settings = PresenceSettings(delay=0, skip_unseen=skip)
        return written(tiny_net, 8, settings, unseen_3_to_5)[0]

    assert run(True) == [0, 1, 2, 6, 7]
    assert run(False) == list(range(8))


def test_a_test_that_only_measures_changes_no_memory_write(tiny_net, monkeypatch):
    """`acting` False (scripts/absence_sources.py): the frames are written as without the
    test, at once, and even where the decoder finds no object (scripted here)."""
    real = PresenceTest.statistics

    def nothing_seen(*args):
        stats = real(*args)
        stats["region"] = [0.0] * len(stats["region"])
        return stats

    monkeypatch.setattr(PresenceTest, "statistics", staticmethod(nothing_seen))
    times, engine = written(tiny_net, 6)
    assert times == list(range(6)) and not engine._pending
