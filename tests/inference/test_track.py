"""`track()`, the one frame loop, against `VideoPredictor.step` called frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gsfm
from gsfm import VideoPredictor
from gsfm.errors import InputError
from gsfm.inference import TrackedFrame, track
from tests.inference.clips import make_clip


@pytest.fixture
def predictor(tiny_net) -> VideoPredictor:
    return VideoPredictor(tiny_net, device="cpu", size=None, mem_every=2)


def test_exported():
    assert gsfm.track is track and gsfm.TrackedFrame is TrackedFrame


def test_track_equals_step_by_step(predictor, tiny_net):
    clip = make_clip(7, 32, 48, n_objects=3, appear={3: 4})
    late = np.where(clip.labels[4] == 3, 3, 0).astype(np.uint8)
    first = np.where(clip.labels[2] == 3, 0, clip.labels[2]).astype(np.uint8)
    masks = {2: first, 4: late}
    got = list(track(predictor, clip.frames, masks, probabilities=True))

    reference = VideoPredictor(tiny_net, device="cpu", size=None, mem_every=2)
    assert [g.index for g in got] == list(range(7))
    for t in range(7):
        if t < 2:  # before the first mask: empty, all background, network not run
            assert not got[t].labels.any() and got[t].labels.shape == (32, 48)
            assert got[t].probabilities.shape == (1, 32, 48) and got[t].object_ids == []
            continue
        labels, prob = reference.step(clip.frames[t], masks.get(t), True, last_frame=t == 6)
        assert np.array_equal(got[t].labels, labels)
        np.testing.assert_allclose(got[t].probabilities, prob, atol=1e-6)
        assert got[t].object_ids == reference.object_ids
    assert got[-1].object_ids == [1, 2, 3] and got[3].object_ids == [1, 2]
    assert predictor.engine.memory_frames == reference.engine.memory_frames


def test_last_frame_skips_the_memory_write_and_stop_reads_no_further(predictor):
    clip = make_clip(5, 32, 48)
    frames_read = []

    def frames():
        for t, frame in enumerate(clip.frames):
            frames_read.append(t)
            yield frame

    out = list(track(predictor, frames(), {0: clip.labels[0]}, stop=3))
    assert [o.index for o in out] == [0, 1, 2] and max(frames_read) == 2
    assert out[0].probabilities is None
    # mem_every 2: frame 0 (given) is written, frame 2 would be due but is the last one.
    assert predictor.engine.memory_frames == 1


def test_paths_before_the_first_mask_are_not_decoded(predictor, tmp_path):
    clip = make_clip(3, 32, 48)
    paths = []
    for t, frame in enumerate(clip.frames):
        paths.append(tmp_path / f"{t}.png")
        Image.fromarray(frame).save(paths[-1])
    paths[0].write_bytes(paths[0].read_bytes()[:60])  # a truncated file: header only
    out = list(track(predictor, paths, {1: clip.labels[1]}))
    assert out[0].frame is None and not out[0].labels.any()
    assert np.array_equal(out[1].frame, clip.frames[1])
    assert np.array_equal(out[1].labels, clip.labels[1])


def test_segment_wraps_track(predictor):
    clip = make_clip(4, 32, 48)
    torch.manual_seed(0)
    labels = list(predictor.segment(clip.frames, clip.labels[0]))
    assert all(
        np.array_equal(a, b.labels)
        for a, b in zip(labels, track(predictor, clip.frames, {0: clip.labels[0]}))
    )


def test_paths_are_decoded_ahead_on_a_worker_and_errors_come_at_their_frame(
    predictor, tmp_path, monkeypatch
):
    """Frame t + 1 is read (off the caller's thread) while frame t is segmented; a frame that
    cannot be decoded fails when its turn comes, after every frame before it was yielded."""
    import importlib
    import threading

    track_module = importlib.import_module("gsfm.inference.track")  # the package exports track()

    clip = make_clip(4, 32, 48)
    paths = []
    for t, frame in enumerate(clip.frames):
        paths.append(tmp_path / f"{t}.png")
        Image.fromarray(frame).save(paths[-1])
    paths[3].write_bytes(b"not a png")
    started = {t: threading.Event() for t in range(len(paths))}
    real_read, real_step = track_module.read_frame, predictor.step
    ahead = []

    def read(path):
        assert threading.current_thread() is not threading.main_thread()
        started[int(Path(path).stem)].set()
        return real_read(path)

    def step(frame, *args, **kwargs):
        # while frame t is segmented, frame t + 1 is being read (sequential reading would
        # only start it after this step returns, and the wait would time out)
        t = len(ahead)
        ahead.append(t + 1 >= len(paths) or started[t + 1].wait(timeout=30))
        return real_step(frame, *args, **kwargs)

    monkeypatch.setattr(track_module, "read_frame", read)
    monkeypatch.setattr(predictor, "step", step)
    seen = []
    with pytest.raises(InputError, match="cannot decode frame"):
        for out in track(predictor, paths, {0: clip.labels[0]}):
            seen.append(out.index)
    assert seen == [0, 1, 2]
    assert ahead == [True, True, True]
