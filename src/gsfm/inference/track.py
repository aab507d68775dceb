"""The one frame loop: every caller that segments a video (segment, demo, infer, the
benchmark, the scripts, the Python API) iterates `track()` and writes what it yields.

    for out in track(predictor, frames, {0: first_mask}):
        write_png(out.index, out.labels)

Writers (PNG folders, overlay videos, contact sheets, zips) are sinks that consume the
yielded `TrackedFrame`s; the loop itself does no output.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gsfm.data.video import frame_size, read_frame
from gsfm.inference.stepper import Frame, Mask, Stepper

_END = object()


@dataclass
class TrackedFrame:
    """One frame's result.

    - index: 0-based position of the frame in `frames`.
    - labels: HxW label map of the caller's object ids (uint8, int32 past id 255).
    - probabilities: [N+1, H, W] float32, background first then `object_ids` order (only
      with `probabilities=True`; before the first mask it is all background, [1, H, W]).
    - object_ids: the ids tracked at this frame (the channel order of `probabilities`).
    - frame: the input frame as given (an array/tensor; a path's decoded array; None for a
      path before the first mask, which is never decoded), for sinks such as overlays.
    """

    index: int
    labels: np.ndarray
    probabilities: np.ndarray | None = None
    object_ids: list[int] = field(default_factory=list)
    frame: Any = None


def track(
    predictor: Stepper,
    frames: Iterable[Frame | str | os.PathLike[str]],
    masks: Mapping[int, Mask],
    *,
    stop: int | None = None,
    probabilities: bool = False,
) -> Iterator[TrackedFrame]:
    """Segment a new video (the predictor is reset first), yielding one `TrackedFrame` per
    frame, in order.

    frames: HxWx3 uint8 RGB arrays, [3, H, W] tensors, or image file paths (read with
    `gsfm.data.video.read_frame`, EXIF applied), consumed lazily, one frame ahead; a path is
    decoded on a worker thread while the network runs on the frame before it (a 640x480 PNG
    takes ~10 ms to decode).
    masks: frame index -> HxW label map (0 = background); the objects of a map join at that
    frame and keep its ids. Frames before the first mask yield empty labels without running
    the network (a path there is not even decoded). stop: frames from this index on are not
    read or yielded (online inference: they cannot change earlier results). The last frame
    skips the memory write that no later frame would read.
    """
    predictor.reset()
    start = min(masks, default=None)
    iterator = iter(frames)
    if stop is not None:
        iterator = (f for _, f in zip(range(stop), iterator))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gsfm-read") as reader:

        def pull(index: int) -> Any:
            """The next input; a path the network will see starts decoding now."""
            item = next(iterator, _END)
            wanted = start is not None and index >= start
            if wanted and isinstance(item, (str, os.PathLike)):
                return reader.submit(read_frame, item)
            return item

        current: Any = pull(0)
        index = 0
        while current is not _END:
            following = pull(index + 1)
            if start is None or index < start:
                yield _empty(index, current, probabilities)
            else:
                frame = current.result() if isinstance(current, Future) else current
                result = predictor.step(
                    frame, masks.get(index), probabilities, last_frame=following is _END
                )
                labels, prob = result if probabilities else (result, None)
                yield TrackedFrame(index, labels, prob, predictor.object_ids, frame)  # type: ignore[arg-type]
            current = following
            index += 1


def _empty(index: int, frame: Any, probabilities: bool) -> TrackedFrame:
    """A frame before any object: all background, the network not run."""
    if isinstance(frame, (str, os.PathLike)):
        height, width = frame_size(frame)
        frame = None
    else:  # arrays are HxWx3; tensors 3xHxW (or HxWx3), as `frame_tensor` reads them
        shape = tuple(frame.shape)
        tensor_layout = not isinstance(frame, np.ndarray) and shape[0] == 3
        height, width = shape[1:3] if tensor_layout else shape[:2]
    labels = np.zeros((height, width), dtype=np.uint8)
    prob = np.ones((1, height, width), dtype=np.float32) if probabilities else None
    return TrackedFrame(index, labels, prob, [], frame)
