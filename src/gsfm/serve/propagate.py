"""Propagation: the engine run over a session's cached frames, forward or backward.

Forward from K runs frames K..end; backward from K runs K..0, i.e. the same engine on the
reversed frames. The engine is given the annotation at K and every other annotation on the
way (as `gsfm segment --mask-frame` would), and each frame's labels replace what it showed;
frames on the other side of K keep their masks. So a correction at K is: paint K, propagate
again from K.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from gsfm.errors import InputError
from gsfm.inference.predictor import VideoPredictor
from gsfm.serve.jobs import Job
from gsfm.serve.sessions import Session

DIRECTIONS = ("forward", "backward")


def run_engine(
    predictor: VideoPredictor, frames: Iterable[np.ndarray], masks: Mapping[int, np.ndarray]
) -> Iterator[tuple[int, np.ndarray]]:
    """(position, labels) for each frame of a new video; `masks` maps positions to label maps.

    The one place this package drives the engine.
    """
    predictor.reset()
    iterator = iter(frames)
    current = next(iterator, None)
    position = 0
    while current is not None:
        following = next(iterator, None)
        labels = predictor.step(current, masks.get(position), last_frame=following is None)
        yield position, labels  # type: ignore[misc]
        current, position = following, position + 1


def frame_order(start: int, direction: str, count: int) -> list[int]:
    """Frame indices in the order the engine sees them."""
    if direction not in DIRECTIONS:
        raise InputError(f"direction must be forward or backward, got {direction!r}")
    return list(range(start, count)) if direction == "forward" else list(range(start, -1, -1))


def check_start(session: Session, start: int) -> None:
    session.check_index(start)
    if start not in session.annotated():
        raise InputError(
            f"frame {start} has no mask of yours: draw or import one there before propagating"
        )


def propagate(job: Job, session: Session, predictor: VideoPredictor, order: list[int]) -> None:
    """Run the engine over `order` with the session's annotations; write each frame's labels
    as it comes (the page shows them at once); stop between frames when cancelled."""
    annotated = set(session.annotated())
    given = {pos: session.annotation(i) for pos, i in enumerate(order) if i in annotated}
    frames = (session.read_frame(i) for i in order)
    for position, labels in run_engine(predictor, frames, given):
        index = order[position]
        session.write_result(index, labels)
        job.frame_done(index)
        if job.cancelled:
            return
