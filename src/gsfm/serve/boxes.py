"""The app's Box / Add / Remove tools: one route that makes an object's mask on a frame from a
box, the user's strokes and the object's current mask (`gsfm.first_mask.from_box`).

The route only computes: it answers the new mask and stores nothing, so the page applies it
like any other edit (undo/redo, then the usual PUT of the frame's annotation).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from typing import Literal

import numpy as np
from fastapi import FastAPI, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gsfm.errors import InputError
from gsfm.first_mask import box_of, check_box, from_box
from gsfm.serve.sessions import SessionStore

MAX_POINTS = 20_000  # stroke points in one request, all strokes together
MAX_RADIUS = 200.0


class Stroke(BaseModel):
    """A brush stroke in image coordinates: `add` marks the object, `remove` the background."""

    kind: Literal["add", "remove"]
    radius: float = Field(gt=0, le=MAX_RADIUS)
    points: list[tuple[float, float]] = Field(min_length=1)


class FirstMaskRequest(BaseModel):
    """The box (x0, y0, x1, y1; x1, y1 exclusive; none: the current mask's own box), every
    stroke made since the box, and the object's current mask (base64 of H*W bytes, nonzero =
    the object; none when it has no pixel yet)."""

    box: tuple[int, int, int, int] | None = None
    strokes: list[Stroke] = []
    mask: str | None = None


def add_routes(app: FastAPI, store: SessionStore) -> None:
    """Register the first-mask route on the app."""

    @app.post("/api/sessions/{sid}/first-mask/{index}")
    async def first_mask(sid: str, index: int, req: FirstMaskRequest) -> Response:
        """The object's new mask on frame `index`, as H*W bytes (1 = the object)."""
        session = store.get(sid)
        session.check_index(index)
        size = session.size
        if sum(len(s.points) for s in req.strokes) > MAX_POINTS:
            raise InputError(f"the strokes have over {MAX_POINTS} points; make fewer")
        current = decode_mask(req.mask, size)

        def compute() -> np.ndarray:
            image = session.read_frame(index)  # NotFoundError while not decoded
            box = req.box
            if box is None and current is not None:
                box = box_of(current)  # strokes on a mask drawn or propagated without a box
            if box is None:
                raise InputError("draw a box around the object first (Box tool)")
            box = check_box(box, size)
            add, remove = rasterise(req.strokes, size)
            return from_box(image, box, add, remove, previous=current)

        mask = await run_in_threadpool(compute)
        return Response(
            mask.astype(np.uint8).tobytes(),
            media_type="application/octet-stream",
            headers={"Cache-Control": "no-store"},
        )


def decode_mask(text: str | None, size: tuple[int, int]) -> np.ndarray | None:
    """The base64 mask as [H, W] bool; None when absent or empty."""
    if text is None:
        return None
    height, width = size
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("the mask is not base64") from None
    if len(raw) != height * width:
        raise InputError(f"the mask has {len(raw)} bytes, not {height * width} ({width}x{height})")
    mask = np.frombuffer(raw, dtype=np.uint8).reshape(height, width) > 0
    return mask if mask.any() else None


def rasterise(strokes: list[Stroke], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(add, remove) [H, W] bool masks of the strokes: a pixel is marked when its centre lies
    within `radius` of the stroke's line (the page's brush rule). A later stroke wins over an
    earlier one where they cross."""
    add = np.zeros(size, bool)
    remove = np.zeros(size, bool)
    for stroke in strokes:
        mark = np.zeros(size, bool)
        points = stroke.points
        pairs = itertools.pairwise(points) if len(points) > 1 else [(points[0], points[0])]
        for (ax, ay), (bx, by) in pairs:
            _segment(mark, ax, ay, bx, by, stroke.radius)
        mine, other = (add, remove) if stroke.kind == "add" else (remove, add)
        mine |= mark
        other &= ~mark
    return add, remove


def _segment(mark: np.ndarray, ax: float, ay: float, bx: float, by: float, r: float) -> None:
    """Pixels whose centre is within `r` of the segment a-b."""
    height, width = mark.shape
    x0, x1 = max(0, int(np.floor(min(ax, bx) - r))), min(width - 1, int(np.ceil(max(ax, bx) + r)))
    y0, y1 = max(0, int(np.floor(min(ay, by) - r))), min(height - 1, int(np.ceil(max(ay, by) + r)))
    if x0 > x1 or y0 > y1:
        return
    ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    px, py = xs + 0.5 - ax, ys + 0.5 - ay
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.clip((px * dx + py * dy) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    ex, ey = px - t * dx, py - t * dy
    mark[y0 : y1 + 1, x0 : x1 + 1] |= ex * ex + ey * ey <= r * r
