"""`gsfm serve` through FastAPI's test client: open, annotate, propagate, correct, cancel,
export, and every refusal. Propagated masks are compared with `VideoPredictor.segment` and
the export with `gsfm segment`, run separately on the same frames and masks."""

from __future__ import annotations

import io
import json
import shlex
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="gsfm serve needs the extra: pip install 'gsfm[serve]'")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (in the [dev] extra)")

from fastapi.testclient import TestClient
from PIL import Image

import gsfm.serve.propagate as propagate_module
from gsfm.cli import main
from gsfm.data.masks import DAVIS_PALETTE, read_mask, write_palette_png
from gsfm.data.video import open_frames
from gsfm.inference.predictor import VideoPredictor
from gsfm.serve.app import ServeConfig, create_app
from tests.serve.helpers import FRAMES, LIMIT, SIZE, H, W, mask_of, upload


@pytest.fixture(scope="module")
def frames(root) -> list[np.ndarray]:
    return [f for _, f in open_frames(root / "clip.mp4")]


@pytest.fixture(scope="module")
def predictor() -> VideoPredictor:
    return VideoPredictor.from_weights("gsfm-tiny", device="cpu", size=SIZE)


def expected(predictor, frames, first) -> list[np.ndarray]:
    """What the public Python API gives for these frames from this first mask."""
    return [np.asarray(labels) for labels in predictor.segment(frames, first)]


def annotate(client, sid, index, labels) -> dict:
    r = client.put(f"/api/sessions/{sid}/annotations/{index}", content=labels.tobytes())
    assert r.status_code == 200, r.text
    return r.json()


def run(client, sid, start, direction="forward") -> dict:
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": start, "direction": direction})
    assert r.status_code == 202, r.text
    events = client.get(f"/api/sessions/{sid}/events")
    snaps = [json.loads(line[6:]) for line in events.text.splitlines() if line.startswith("data: ")]
    assert snaps[-1]["state"] == "done", snaps[-1]
    return {"snaps": snaps, "new": [i for s in snaps for i in s["new"]]}


def import_png(client, sid, index, path):
    return client.post(f"/api/sessions/{sid}/annotations/{index}/import", content=path.read_bytes())


def error(response) -> str:
    return response.json()["error"]


# ----------------------------------------------------------------------------- opening


def test_upload_decodes_every_frame_once_into_the_cache(client, video_bytes, frames, app):
    info = upload(client, video_bytes)
    assert (info["frames"], info["width"], info["height"]) == (FRAMES, W, H)
    assert info["fps"] == pytest.approx(12.0)
    assert info["names"] == [f"{i:05d}" for i in range(FRAMES)]  # gsfm segment's names
    assert info["title"] == "clip.mp4" and info["annotated"] == [] and info["segmented"] == []
    folder = app.state.store.sessions[info["id"]].folder
    assert sorted(p.name for p in (folder / "frames").iterdir()) == [
        f"{i:06d}.png" for i in range(FRAMES)
    ]
    assert not (folder / "upload").exists()  # the upload itself is not kept
    for i in (0, FRAMES - 1):
        r = client.get(f"/api/sessions/{info['id']}/frames/{i}")
        assert r.headers["content-type"] == "image/png"
        assert np.array_equal(np.array(Image.open(io.BytesIO(r.content))), frames[i])  # lossless


def test_a_zip_of_frames_opens_with_its_frame_names(client, root):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        for t in (10, 2, 1):  # natural order, inside a folder, with junk beside
            zf.write(root / "frames" / f"f{t % FRAMES}.png", f"clip/frame{t}.png")
        zf.writestr("clip/notes.txt", "not a frame")
        zf.writestr("__MACOSX/clip/._frame1.png", "junk")
    info = upload(client, data.getvalue(), "frames.zip")
    assert info["names"] == ["frame1", "frame2", "frame10"]
    assert (info["width"], info["height"]) == (W, H)


def test_open_a_file_under_root_and_list_it(client):
    listing = client.get("/api/files").json()
    assert {"name": "frames", "path": "frames", "folder": True} in listing
    assert {"name": "clip.mp4", "path": "clip.mp4", "folder": False} in listing
    r = client.post("/api/sessions/open", json={"path": "clip.mp4"})
    assert r.status_code == 200 and r.json()["frames"] == FRAMES
    r = client.post("/api/sessions/open", json={"path": "frames"})
    assert r.status_code == 200 and r.json()["names"] == [f"f{t}" for t in range(FRAMES)]
    sid = r.json()["id"]
    client.get(f"/api/sessions/{sid}/events")
    assert client.get(f"/api/sessions/{sid}/job").json()["state"] == "done"


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("../outside.mp4", 403, "without '..'"),
        ("frames/../../x", 403, "without '..'"),
        ("/etc/passwd", 403, "only paths inside --root"),
        ("link.mp4", 403, "symbolic links"),
        ("linkdir/clip.mp4", 403, "symbolic links"),
        ("missing.mp4", 400, "not found"),
        ("first.png", 400, "one frame"),
    ],
)
def test_root_paths_outside_links_and_non_videos_are_refused(client, root, path, status, words):
    if not (root / "link.mp4").is_symlink():
        (root / "link.mp4").symlink_to(root / "clip.mp4")  # even a link inside the root
        (root / "linkdir").symlink_to(root.parent)
    r = client.post("/api/sessions/open", json={"path": path})
    assert r.status_code == status and words in error(r), r.text
    assert client.get("/api/files?path=../").status_code == 403


def test_bad_uploads_get_one_clear_message_and_the_server_keeps_serving(client, app):
    cases = [
        (b"this is not a video at all" * 10, 400, "cannot read video"),
        (b"", 400, "empty"),
        (b"\0" * (LIMIT + 1), 413, "limit"),
    ]
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("readme.txt", "no frames")
    cases.append((data.getvalue(), 400, "no JPEG or PNG frames"))
    before = set(app.state.store.sessions)
    for body, status, words in cases:
        r = client.post("/api/sessions?name=x.mp4", content=body)
        assert r.status_code == status and words in error(r), (words, r.text)
    assert set(app.state.store.sessions) == before  # nothing half-opened is kept
    assert not [p for p in app.state.store.base.iterdir() if p.name not in before]
    assert client.get("/api/config").status_code == 200


def test_a_frame_that_fails_to_decode_fails_the_decoding_with_its_name(client, root, app):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.write(root / "frames" / "f0.png", "f0.png")
        zf.writestr("f1.png", (root / "frames" / "f1.png").read_bytes()[:200])  # truncated
    r = client.post("/api/sessions?name=frames.zip", content=data.getvalue())
    assert r.status_code == 200  # the headers read; frame f1 fails as it is decoded
    sid = r.json()["id"]
    events = client.get(f"/api/sessions/{sid}/events").text
    last = json.loads(events.strip().splitlines()[-1][6:])
    assert last["kind"] == "decode" and last["state"] == "failed"
    assert "cannot decode frame" in last["error"] and "f1.png" in last["error"]
    folder = app.state.store.sessions[sid].folder
    assert not (folder / "upload").exists() and not (folder / "zip").exists()
    assert client.delete(f"/api/sessions/{sid}").status_code == 204  # what the page does
    assert not folder.exists()


def test_frames_are_decoded_on_the_sessions_worker(client, video_bytes, clip, held_decoding):
    r = client.post("/api/sessions?name=clip.mp4", content=video_bytes)
    info = r.json()
    sid = info["id"]
    assert info["frames"] == FRAMES and info["job"]["kind"] == "decode"
    for _ in range(100):
        if client.get(f"/api/sessions/{sid}/job").json()["count"] >= 1:
            break
        time.sleep(0.05)
    assert client.get(f"/api/sessions/{sid}/frames/0").status_code == 200
    r = client.get(f"/api/sessions/{sid}/frames/{FRAMES - 1}")
    assert r.status_code == 404 and "not decoded yet" in error(r)
    r = client.put(f"/api/sessions/{sid}/annotations/0", content=clip.masks[0].tobytes())
    assert r.status_code == 409 and "still being decoded" in error(r)
    assert client.post(f"/api/sessions/{sid}/cancel").status_code == 400  # not a propagation
    held_decoding.set()
    last = client.get(f"/api/sessions/{sid}/events").text.strip().splitlines()[-1]
    assert json.loads(last[6:])["state"] == "done"
    assert client.get(f"/api/sessions/{sid}/frames/{FRAMES - 1}").status_code == 200


def test_an_upload_that_says_it_is_too_large_is_refused_before_reading(client):
    r = client.post("/api/sessions", content=b"x", headers={"content-length": str(LIMIT + 10)})
    assert r.status_code == 413 and "--max-upload-mb" in error(r)


# ----------------------------------------------------------------------------- annotating


def test_annotations_are_kept_shown_and_checked(client, video_bytes, clip):
    sid = upload(client, video_bytes)["id"]
    first = clip.masks[0]
    info = annotate(client, sid, 0, first)
    assert info["annotated"] == [0] and info["segmented"] == [0]
    assert [o["id"] for o in info["objects"]] == [1, 2]
    assert info["objects"][0]["colour"] == list(DAVIS_PALETTE[1])
    assert np.array_equal(mask_of(client, sid, 0), first)
    assert mask_of(client, sid, 1) is None

    r = client.put(f"/api/sessions/{sid}/annotations/0", content=b"\1" * (H * W - 1))
    assert r.status_code == 400 and f"{W}x{H}" in error(r)
    r = client.put(f"/api/sessions/{sid}/annotations/{FRAMES}", content=first.tobytes())
    assert r.status_code == 404 and "outside" in error(r)
    r = client.put("/api/sessions/nope/annotations/0", content=first.tobytes())
    assert r.status_code == 404

    info = annotate(client, sid, 0, np.zeros((H, W), np.uint8))  # clearing removes it
    assert info["annotated"] == [] and mask_of(client, sid, 0) is None


def test_imported_masks_use_gsfm_segments_readers(client, video_bytes, clip, tmp_path):
    sid = upload(client, video_bytes)["id"]
    palette = DAVIS_PALETTE.copy()
    palette[2] = (10, 200, 30)
    write_palette_png(tmp_path / "m.png", clip.masks[0], palette)
    r = client.post(
        f"/api/sessions/{sid}/annotations/2/import", content=(tmp_path / "m.png").read_bytes()
    )
    assert r.status_code == 200, r.text
    assert np.array_equal(mask_of(client, sid, 2), read_mask(tmp_path / "m.png").labels)
    assert r.json()["objects"][1]["colour"] == [10, 200, 30]  # the mask's palette is kept

    grey = np.where(clip.masks[0] == 1, 255, 0).astype(np.uint8)  # black-and-white: object 1
    Image.fromarray(grey).save(tmp_path / "g.png")
    r = client.post(
        f"/api/sessions/{sid}/annotations/3/import", content=(tmp_path / "g.png").read_bytes()
    )
    assert r.status_code == 200 and np.array_equal(
        mask_of(client, sid, 3), (grey > 0).astype(np.uint8)
    )

    write_palette_png(tmp_path / "small.png", clip.masks[0][:40, :50], DAVIS_PALETTE)
    r = client.post(
        f"/api/sessions/{sid}/annotations/1/import", content=(tmp_path / "small.png").read_bytes()
    )
    assert r.status_code == 400 and error(r) == f"the mask is 50x40 but the frames are {W}x{H}"
    r = client.post(f"/api/sessions/{sid}/annotations/1/import", content=b"not a png")
    assert r.status_code == 400 and "cannot read mask" in error(r)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "empty.png")
    r = client.post(
        f"/api/sessions/{sid}/annotations/1/import", content=(tmp_path / "empty.png").read_bytes()
    )
    assert r.status_code == 400 and "no object" in error(r)
    assert client.get(f"/api/sessions/{sid}").json()["annotated"] == [2, 3]


def test_objects_are_added_renamed_and_deleted_everywhere(client, video_bytes, clip):
    sid = upload(client, video_bytes)["id"]
    r = client.post(f"/api/sessions/{sid}/objects", json={"name": "dog"})
    assert r.json()["object"] == 1 and r.json()["objects"] == [
        {"id": 1, "name": "dog", "colour": list(DAVIS_PALETTE[1])}
    ]
    annotate(client, sid, 0, clip.masks[0])  # ids 1 and 2
    annotate(client, sid, 4, np.where(clip.masks[4] == 2, 2, 0).astype(np.uint8))
    assert client.post(f"/api/sessions/{sid}/objects", json={}).json()["object"] == 3
    r = client.patch(f"/api/sessions/{sid}/objects/2", json={"name": "cat"})
    assert [o["name"] for o in r.json()["objects"]] == ["dog", "cat", "object 3"]
    r = client.delete(f"/api/sessions/{sid}/objects/2")
    assert [o["id"] for o in r.json()["objects"]] == [1, 3]
    assert r.json()["annotated"] == [0]  # frame 4 held only object 2
    assert np.array_equal(mask_of(client, sid, 0), np.where(clip.masks[0] == 1, 1, 0))
    assert client.delete(f"/api/sessions/{sid}/objects/2").status_code == 404


# ----------------------------------------------------------------------------- propagating


def test_forward_propagation_equals_the_python_api(client, video_bytes, clip, frames, predictor):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    result = run(client, sid, 0)
    assert result["new"] == list(range(FRAMES))  # streamed in order, each frame once
    assert result["snaps"][-1]["count"] == FRAMES and result["snaps"][-1]["fps"] > 0
    want = expected(predictor, frames, clip.masks[0])
    for i in range(FRAMES):
        assert np.array_equal(mask_of(client, sid, i), want[i]), i
    assert client.get(f"/api/sessions/{sid}").json()["segmented"] == list(range(FRAMES))


def test_backward_propagation_is_the_engine_on_the_reversed_frames(
    client, video_bytes, clip, frames, predictor
):
    sid = upload(client, video_bytes)["id"]
    k = FRAMES - 2
    annotate(client, sid, k, clip.masks[k])
    annotate(client, sid, FRAMES - 1, clip.masks[-1])  # after K: not part of a backward run
    result = run(client, sid, k, "backward")
    assert result["new"] == list(range(k, -1, -1))
    want = expected(predictor, frames[k::-1], clip.masks[k])
    for pos, i in enumerate(range(k, -1, -1)):
        assert np.array_equal(mask_of(client, sid, i), want[pos]), i
    assert np.array_equal(mask_of(client, sid, FRAMES - 1), clip.masks[-1])


def test_correcting_frame_k_propagates_from_k_and_keeps_the_frames_before(
    client, video_bytes, clip, frames, predictor
):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    run(client, sid, 0)
    before = [mask_of(client, sid, i) for i in range(FRAMES)]
    k = 3
    fixed = before[k].copy()
    fixed[:10, :10] = 2  # the user paints over a bad part
    annotate(client, sid, k, fixed)
    result = run(client, sid, k)
    assert result["new"] == list(range(k, FRAMES))
    for i in range(k):
        assert np.array_equal(mask_of(client, sid, i), before[i]), i
    want = expected(predictor, frames[k:], fixed)
    for pos, i in enumerate(range(k, FRAMES)):
        assert np.array_equal(mask_of(client, sid, i), want[pos]), i
    assert np.array_equal(mask_of(client, sid, k), fixed)
    assert not np.array_equal(want[-1], before[-1])  # the correction reached the last frame


def test_annotations_on_the_way_are_given_to_the_engine(
    client, video_bytes, clip, frames, predictor
):
    """As `gsfm segment --mask-frame`: a later mask of yours is used when the run reaches it."""
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, np.where(clip.masks[0] == 1, 1, 0).astype(np.uint8))
    late = np.where(clip.masks[3] == 2, 2, 0).astype(np.uint8)  # object 2 joins at frame 3
    annotate(client, sid, 3, late)
    run(client, sid, 0)
    want = list(predictor.segment(frames, np.where(clip.masks[0] == 1, 1, 0), {3: late}))
    for i in range(FRAMES):
        assert np.array_equal(mask_of(client, sid, i), want[i]), i
    assert (mask_of(client, sid, FRAMES - 1) == 2).any()


def test_propagation_refusals(client, video_bytes, clip):
    sid = upload(client, video_bytes)["id"]
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": 0})
    assert r.status_code == 400 and "frame 0 has no mask of yours" in error(r)
    annotate(client, sid, 0, clip.masks[0])
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": 0, "direction": "up"})
    assert r.status_code == 400 and "forward or backward" in error(r)
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": FRAMES})
    assert r.status_code == 404
    assert client.post(f"/api/sessions/{sid}/cancel").status_code == 400  # nothing running


@pytest.fixture
def held_engine(monkeypatch):
    """The engine run made to wait after each frame until the test releases it."""
    release = threading.Event()
    real = propagate_module.track

    def held(*args, **kwargs):
        for item in real(*args, **kwargs):
            yield item
            release.wait(10)

    monkeypatch.setattr(propagate_module, "track", held)
    return release


def test_one_propagation_at_a_time_and_cancel(client, video_bytes, clip, held_engine):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    r = client.post(f"/api/sessions/{sid}/propagate", json={"start": 0})
    assert r.status_code == 202 and r.json()["state"] == "running"
    for _ in range(100):
        if client.get(f"/api/sessions/{sid}/job").json()["count"] >= 1:
            break
        time.sleep(0.05)
    again = client.post(f"/api/sessions/{sid}/propagate", json={"start": 0})
    assert again.status_code == 409 and "running" in error(again)
    busy = client.put(f"/api/sessions/{sid}/annotations/2", content=clip.masks[2].tobytes())
    assert busy.status_code == 409
    assert client.get(f"/api/sessions/{sid}/export").status_code == 409
    threading.Timer(0.3, held_engine.set).start()
    snap = client.post(f"/api/sessions/{sid}/cancel").json()
    assert snap["state"] == "cancelled" and 1 <= snap["count"] < FRAMES
    info = client.get(f"/api/sessions/{sid}").json()
    assert info["segmented"] == list(range(snap["count"]))  # what was done is kept
    assert client.post(f"/api/sessions/{sid}/propagate", json={"start": 0}).status_code == 202


# ----------------------------------------------------------------------------- export


def test_export_equals_gsfm_segment_with_the_exported_first_masks(
    client, video_bytes, clip, root, tmp_path, monkeypatch
):
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    run(client, sid, 0)
    r = client.get(f"/api/sessions/{sid}/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert 'filename="clip-gsfm.zip"' in r.headers["content-disposition"]
    out = tmp_path / "export"
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(out)
    names = sorted(p.name for p in (out / "masks").iterdir())
    assert names == [f"{i:05d}.png" for i in range(FRAMES)]
    assert sorted(p.name for p in (out / "first_masks").iterdir()) == ["00000.png"]
    assert len(open_frames(out / "overlay.mp4")) == FRAMES
    command = shlex.split((out / "segment.sh").read_text().splitlines()[-1])
    assert command[:3] == ["gsfm", "segment", "INPUT"]
    assert " ".join(command[3:9]) == "--mask first_masks/00000.png --mask-frame 0 --out masks_again"
    assert command[command.index("--size") + 1] == str(SIZE)

    # segment.sh, run from the unzipped export on the clip, repeats the masks pixel for pixel.
    monkeypatch.chdir(out)
    assert main(["segment", str(root / "clip.mp4"), *command[3:], "--device", "cpu"]) == 0
    again = out / "masks_again"
    for name in names:
        with Image.open(out / "masks" / name) as a, Image.open(again / name) as b:
            assert a.mode == b.mode == "P"
            assert np.array_equal(np.array(a), np.array(b)), name
            assert a.getpalette()[:9] == b.getpalette()[:9]


def test_export_without_masks_is_refused(client, video_bytes):
    sid = upload(client, video_bytes)["id"]
    r = client.get(f"/api/sessions/{sid}/export")
    assert r.status_code == 400 and "nothing to export" in error(r)


# ----------------------------------------------------------------------------- safety


def test_loopback_server_refuses_other_host_names(client):
    assert client.get("/api/config").status_code == 200
    r = client.get("/api/config", headers={"host": "evil.example:8765"})
    assert r.status_code == 403 and "127.0.0.1" in error(r)


def test_requests_from_another_site_are_refused(client, video_bytes):
    evil = {"origin": "http://evil.example"}
    r = client.post("/api/sessions?name=x.mp4", content=video_bytes, headers=evil)
    assert r.status_code == 403 and "another site" in error(r)
    same = {"origin": "http://127.0.0.1"}
    assert client.post("/api/sessions", content=video_bytes, headers=same).status_code == 200
    assert client.get("/api/config", headers=evil).status_code == 200  # reads are same-origin


def test_a_token_is_checked_on_every_request(config):
    app = create_app(ServeConfig(**{**config.__dict__, "token": "s3cret", "root": None}))
    try:
        c = TestClient(app, base_url="http://203.0.113.5")
        assert c.get("/").status_code == 403
        assert c.get("/static/main.js").status_code == 403
        assert c.get("/api/config?token=wrong").status_code == 403
        page = c.get("/?token=s3cret")
        assert page.status_code == 200 and "<canvas" in page.text
        assert c.get("/static/main.js").status_code == 200  # the cookie it set
        assert c.get("/api/config", headers={"x-gsfm-token": "s3cret"}).status_code == 200
        c.cookies.clear()
        assert c.get("/api/config").status_code == 403
        assert c.get("/api/files?token=s3cret").status_code == 403  # no --root
    finally:
        app.state.store.close()


def test_idle_sessions_and_all_sessions_on_exit_are_removed(config, video_bytes):
    app = create_app(ServeConfig(**{**config.__dict__, "idle_seconds": 60}))
    store = app.state.store
    with TestClient(app, base_url="http://127.0.0.1") as c:
        old = upload(c, video_bytes)["id"]
        new = upload(c, video_bytes)["id"]
        folder = store.sessions[old].folder
        store.sessions[old].last_seen -= 120
        assert store.reap() == [old]
        assert not folder.exists() and c.get(f"/api/sessions/{old}").status_code == 404
        assert c.get(f"/api/sessions/{new}").status_code == 200
    assert not store.base.exists()  # the app's shutdown removed every session


def test_static_page_and_modules_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/main.js"' in page.text
    for name in ("main.js", "api.js", "paint.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert "http" not in Path(__file__).parents[2].joinpath(
        "src/gsfm/serve/static/index.html"
    ).read_text().replace("http-equiv", "")  # no CDN


def test_long_propagations_get_segments_automatic_memory_cap(
    client, video_bytes, clip, monkeypatch
):
    """As `gsfm segment`: nothing asked -> a long run gets the capped long-term memory and the
    presence test (threshold lowered here to the test clip's length), a short one the
    original's unbounded memory; the export's segment.sh writes the settings that were used."""
    import gsfm.inference.config as engine_settings
    import gsfm.serve.app as serve_app

    monkeypatch.setattr(engine_settings, "LONG_INPUT_FRAMES", FRAMES - 1)
    monkeypatch.setattr(engine_settings, "LONG_INPUT_CAP", 4)
    used = []

    class Spy(serve_app.VideoPredictor):
        def __init__(self, network, config, **kw):
            used.append((config.max_memory_frames, config.memory, config.presence))
            super().__init__(network, config, **kw)

    monkeypatch.setattr(serve_app, "VideoPredictor", Spy)
    sid = upload(client, video_bytes)["id"]
    annotate(client, sid, 0, clip.masks[0])
    run(client, sid, 0)  # all FRAMES frames: long
    run(client, sid, 0, "backward")  # frame 0 alone: short
    assert used == [(4, "long-term", True), (None, "plain", False)]
    r = client.get(f"/api/sessions/{sid}/export")
    command = shlex.split(zipfile.ZipFile(io.BytesIO(r.content)).read("segment.sh").decode())
    assert command[command.index("--max-memory-frames") + 1] == "4"
    assert command[command.index("--memory") + 1] == "long-term"
    assert command[command.index("--presence") + 1] == "on"
