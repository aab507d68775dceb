"""Propagation: the engine run over a session's cached frames, forward or backward.

Forward from K runs frames K..end; backward from K runs K..0, i.e. the same engine on the
reversed frames. The engine is given the annotation at K and every other annotation on the
way (as `gsfm segment --mask-frame` would), and each frame's labels replace what it showed;
frames on the other side of K keep their masks. So a correction at K is: paint K, propagate
again from K. The frame loop is `gsfm.inference.track`, the one every command uses.
"""

from __future__ import annotations

from gsfm.errors import InputError
from gsfm.inference.predictor import VideoPredictor
from gsfm.inference.track import track
from gsfm.serve.jobs import Job
from gsfm.serve.sessions import Session

DIRECTIONS = ("forward", "backward")


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
    frames = [session.frame_path(i) for i in order]  # decoded one at a time by track()
    for out in track(predictor, frames, given):  # type: ignore[arg-type]
        index = order[out.index]
        session.write_result(index, out.labels)
        job.frame_done(index)
        if job.cancelled:
            return
