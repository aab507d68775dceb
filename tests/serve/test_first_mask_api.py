"""The route behind the page's Box / Add / Remove tools: POST /api/sessions/{sid}/first-mask/{i}
answers the object's new mask from a box, strokes and the current mask, and stores nothing.
Masks are scored against the clip's ground truth; strokes are checked pixel by pixel against
the brush rule worked out by hand."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="gsfm serve needs the extra: pip install 'gsfm[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (in the [dev] extra)")

from gsfm.data.video import open_frames
from gsfm.evaluation.metrics import region_similarity
from gsfm.first_mask import box_of, from_box
from gsfm.serve.boxes import Stroke, rasterise
from tests.serve.helpers import H, W, mask_of, upload


@pytest.fixture
def sid(client, video_bytes) -> str:
    return upload(client, video_bytes)["id"]


@pytest.fixture(scope="module")
def frame0(root) -> np.ndarray:
    return next(iter(open_frames(root / "clip.mp4")))[1]


def ask(client, sid: str, index: int, **body) -> np.ndarray:
    r = client.post(f"/api/sessions/{sid}/first-mask/{index}", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    return np.frombuffer(r.content, dtype=np.uint8).reshape(H, W)


def b64(mask: np.ndarray) -> str:
    return base64.b64encode(mask.astype(np.uint8).tobytes()).decode()


def test_a_box_gives_the_objects_mask_and_nothing_is_stored(client, sid, clip, frame0):
    truth = clip.masks[0] == 1
    box = box_of(truth)
    got = ask(client, sid, 0, box=list(box))
    assert set(np.unique(got)) <= {0, 1}
    assert region_similarity(truth, got > 0) >= 0.8
    assert np.array_equal(got > 0, from_box(frame0, box))  # the frame the session decoded
    assert mask_of(client, sid, 0) is None
    assert client.get(f"/api/sessions/{sid}").json()["annotated"] == []


def test_strokes_and_the_current_mask_correct_it(client, sid, clip, frame0):
    truth = clip.masks[0] == 1
    box = box_of(truth)
    first = ask(client, sid, 0, box=list(box)) > 0
    spill = first & ~truth
    ys, xs = np.nonzero(spill if spill.any() else ~truth & ~first)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    stroke = {"kind": "remove", "radius": 1.5, "points": [[x + 0.5, y + 0.5]]}
    got = ask(client, sid, 0, box=list(box), strokes=[stroke], mask=b64(first)) > 0
    disc = np.zeros((H, W), bool)
    for j in range(H):  # the brush rule by hand: pixel centres within 1.5 of the point
        for i in range(W):
            disc[j, i] = (i + 0.5 - (x + 0.5)) ** 2 + (j + 0.5 - (y + 0.5)) ** 2 <= 1.5**2
    assert not (got & disc).any()
    assert np.array_equal(got, from_box(frame0, box, None, disc, previous=first))
    # Without a box, the current mask's own box is used.
    same = ask(client, sid, 0, strokes=[stroke], mask=b64(first)) > 0
    assert np.array_equal(same, from_box(frame0, box_of(first), None, disc, previous=first))


def test_strokes_are_painted_as_the_brush_paints():
    add = Stroke(kind="add", radius=1.2, points=[(4.0, 3.0)])
    remove = Stroke(kind="remove", radius=0.6, points=[(1.0, 1.0), (5.0, 1.0)])
    a, r = rasterise([add, remove], (6, 8))
    want = np.zeros((6, 8), bool)
    want[2:4, 3:5] = True  # centres (3.5|4.5, 2.5|3.5) lie 0.71 from (4, 3); the next 1.58
    assert np.array_equal(a, want)
    want = np.zeros((6, 8), bool)
    want[0:2, 1:5] = True  # centres at y 0.5 and 1.5 lie 0.5 from the line y = 1, x in 1..5
    assert np.array_equal(r, want)
    # A later stroke wins where they cross: (3.5, 1.5) lies 1.58 from (4, 3).
    wider = Stroke(kind="add", radius=1.6, points=[(4.0, 3.0)])
    a, r = rasterise([remove, wider], (6, 8))
    assert a[1, 3] and not r[1, 3] and r[1, 1]
    a, r = rasterise([wider, remove], (6, 8))
    assert not a[1, 3] and r[1, 3] and a[2, 3]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "draw a box"),
        ({"box": [0, 0, W + 1, 10]}, 400, "outside"),
        ({"box": [5, 5, 2, 9]}, 400, "inverted"),
        ({"box": [0, 0, 9, 9], "mask": "***"}, 400, "base64"),
        ({"box": [0, 0, 9, 9], "mask": base64.b64encode(b"12").decode()}, 400, "bytes"),
        (
            {"box": [0, 0, 9, 9], "strokes": [{"kind": "x", "radius": 1, "points": [[1, 1]]}]},
            422,
            "",
        ),
        (
            {"box": [0, 0, 9, 9], "strokes": [{"kind": "add", "radius": 0, "points": [[1, 1]]}]},
            422,
            "",
        ),
    ],
)
def test_bad_requests_are_refused(client, sid, body, status, words):
    r = client.post(f"/api/sessions/{sid}/first-mask/0", json=body)
    assert r.status_code == status, r.text
    if words:
        assert words in r.json()["error"]


def test_unknown_session_or_frame(client, sid):
    assert (
        client.post("/api/sessions/nope/first-mask/0", json={"box": [0, 0, 9, 9]}).status_code
        == 404
    )
    r = client.post(f"/api/sessions/{sid}/first-mask/99", json={"box": [0, 0, 9, 9]})
    assert r.status_code == 404 and "outside" in r.json()["error"]
