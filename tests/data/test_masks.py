"""Reading masks of every kind a user may give, writing them back, resizing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from gsfm.data.masks import (
    DAVIS_PALETTE,
    read_mask,
    resize_labels,
    write_binary_png,
    write_palette_png,
)
from gsfm.errors import InputError

H, W = 40, 60


def blobs() -> np.ndarray:
    """Three rectangles with ids 1, 2, 3 on background 0."""
    labels = np.zeros((H, W), np.uint8)
    labels[5:20, 5:25] = 1
    labels[22:35, 10:30] = 2
    labels[8:30, 38:55] = 3
    return labels


def test_davis_palette():
    assert DAVIS_PALETTE.shape == (256, 3) and DAVIS_PALETTE.dtype == np.uint8
    assert DAVIS_PALETTE[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                                         [0, 0, 128]]  # fmt: skip
    assert DAVIS_PALETTE[4:8].tolist() == [[0, 0, 128], [128, 0, 128], [0, 128, 128],
                                          [128, 128, 128]]  # fmt: skip
    assert DAVIS_PALETTE[255].tolist() == [224, 224, 192]
    assert len({tuple(c) for c in DAVIS_PALETTE.tolist()}) == 256


def test_palette_png_round_trip(tmp_path):
    labels = blobs()
    labels[0, 0] = 7  # an id without a neighbour keeps its number
    palette = DAVIS_PALETTE.copy()
    palette[7] = (10, 220, 30)
    write_palette_png(tmp_path / "m.png", labels, palette)
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "P"
    mask = read_mask(tmp_path / "m.png")
    assert np.array_equal(mask.labels, labels) and mask.labels.dtype == np.uint8
    assert mask.object_ids == [1, 2, 3, 7]
    assert np.array_equal(mask.palette, palette)
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]  # no temporary file left


def test_short_palette_is_completed(tmp_path):
    img = Image.fromarray(blobs())
    img.putpalette([0, 0, 0, 9, 8, 7])  # defines ids 0 and 1 only
    img.save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.palette.shape == (256, 3)
    assert mask.palette[1].tolist() == [9, 8, 7]
    assert np.array_equal(mask.palette[2:], DAVIS_PALETTE[2:])


def test_indexed_colour_export_is_read_by_colour(tmp_path):
    """An editor may save index 0 = an object colour and index 1 = the black background."""
    img = Image.fromarray(np.where(blobs() > 0, 0, 1).astype(np.uint8))
    img.putpalette([250, 20, 20, 0, 0, 0])
    img.save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [1] and np.array_equal(mask.labels > 0, blobs() > 0)
    assert mask.palette[1].tolist() == [250, 20, 20]


@pytest.mark.parametrize("scale", [1, 255])
def test_binary_mask_is_one_object(tmp_path, scale):
    fg = blobs() > 0
    Image.fromarray((fg * scale).astype(np.uint8)).save(tmp_path / "m.png")
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [1]
    assert np.array_equal(mask.labels, fg.astype(np.uint8))
    assert np.array_equal(mask.palette, DAVIS_PALETTE)


def test_one_bit_and_grey_rgb_masks(tmp_path):
    fg = blobs() > 0
    Image.fromarray(fg).convert("1").save(tmp_path / "bits.png")
    Image.fromarray(np.repeat((fg * 255).astype(np.uint8)[..., None], 3, 2)).save(
        tmp_path / "grey.png"
    )
    for name in ("bits.png", "grey.png"):
        mask = read_mask(tmp_path / name)
        assert mask.object_ids == [1] and np.array_equal(mask.labels > 0, fg), name


def test_grey_id_map_keeps_ids(tmp_path):
    Image.fromarray(blobs()).save(tmp_path / "ids.png")  # 'L' with values 0..3
    mask = read_mask(tmp_path / "ids.png")
    assert mask.object_ids == [1, 2, 3] and np.array_equal(mask.labels, blobs())


def test_rgb_mask_one_object_per_colour(tmp_path):
    colours = {1: (250, 200, 10), 2: (20, 90, 240), 3: (200, 30, 200)}
    rgb = np.zeros((H, W, 3), np.uint8)
    for i, c in colours.items():
        rgb[blobs() == i] = c
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    mask = read_mask(tmp_path / "rgb.png")
    assert len(mask.object_ids) == 3
    assert np.array_equal(mask.palette[mask.labels], rgb)  # each id maps to its colour
    # ids are deterministic: the colours sorted by (R, G, B)
    order = sorted(colours.values())
    assert [tuple(mask.palette[i]) for i in mask.object_ids] == order
    # writing with that palette reproduces the input colours
    write_palette_png(tmp_path / "out.png", mask.labels, mask.palette)
    with Image.open(tmp_path / "out.png") as img:
        assert np.array_equal(np.asarray(img.convert("RGB")), rgb)


def test_rgb_mask_in_davis_colours_keeps_davis_ids(tmp_path):
    Image.fromarray(DAVIS_PALETTE[blobs()]).save(tmp_path / "rgb.png")
    mask = read_mask(tmp_path / "rgb.png")
    assert np.array_equal(mask.labels, blobs())


def test_rgba_transparent_pixels_are_background(tmp_path):
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the objects are opaque
    rgba[blobs() == 1, :3] = (255, 0, 0)
    rgba[blobs() > 0, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    mask = read_mask(tmp_path / "rgba.png")
    assert len(mask.object_ids) == 2
    assert np.array_equal(mask.labels > 0, blobs() > 0)


def test_antialiased_rgb_mask_is_refused(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[blobs() == 1] = (250, 40, 40)
    rgb[blobs() == 2] = (40, 250, 40)
    blurred = Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1.5))
    blurred.save(tmp_path / "aa.png")
    with pytest.raises(InputError, match="antialias") as info:
        read_mask(tmp_path / "aa.png")
    assert "aa.png" in str(info.value) and "colours" in str(info.value)
    assert "palette PNG" in str(info.value)


def test_few_colour_antialiasing_is_refused(tmp_path):
    """A small antialiased shape has few colours, but they are edge slivers."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[10:20, 10:20] = (200, 0, 0)
    for k, shade in enumerate((50, 100, 150)):  # a ring of shades around the square
        rgb[9 - k : 21 + k, 9 - k] = rgb[9 - k : 21 + k, 20 + k] = (shade, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "aa.png")
    with pytest.raises(InputError, match="antialias"):
        read_mask(tmp_path / "aa.png")


def test_empty_missing_and_unreadable(tmp_path):
    Image.fromarray(np.zeros((H, W), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(InputError, match=r"no object in mask .*empty\.png"):
        read_mask(tmp_path / "empty.png")
    with pytest.raises(InputError, match=r"nope\.png"):
        read_mask(tmp_path / "nope.png")
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InputError, match=r"junk\.png"):
        read_mask(tmp_path / "junk.png")


def test_too_many_objects(tmp_path):
    write_palette_png(tmp_path / "m.png", blobs(), DAVIS_PALETTE)
    with pytest.raises(InputError, match="3 objects"):
        read_mask(tmp_path / "m.png", max_objects=2)


def test_write_binary_png(tmp_path):
    write_binary_png(tmp_path / "b.png", blobs())
    with Image.open(tmp_path / "b.png") as img:
        assert img.mode == "L"
        assert set(np.unique(np.asarray(img)).tolist()) == {0, 255}
        assert np.array_equal(np.asarray(img) > 0, blobs() > 0)


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "m.png"
    write_palette_png(target, blobs(), DAVIS_PALETTE)
    before = target.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(OSError):
        write_palette_png(target, np.ones((H, W), np.uint8), DAVIS_PALETTE)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_resize_labels_nearest():
    labels = blobs()
    up = resize_labels(labels, (H * 2, W * 3))
    assert up.shape == (H * 2, W * 3) and up.dtype == np.uint8
    assert set(np.unique(up).tolist()) == {0, 1, 2, 3}
    assert np.array_equal(up[::2, ::3], labels)
    assert np.array_equal(resize_labels(up, (H, W)), labels)
    pil = np.asarray(Image.fromarray(labels).resize((25, 17), Image.NEAREST))
    assert np.mean(resize_labels(labels, (17, 25)) == pil) > 0.98  # differs only on exact ties


# ----------------------------------------------------------------------------- 16-bit masks


def _save16(path, labels: np.ndarray) -> None:
    Image.fromarray(labels.astype(np.uint16)).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")  # really a 16-bit PNG


def test_16bit_ids_above_255_are_objects_in_ascending_order(tmp_path):
    ids16 = np.choose(blobs(), [0, 3000, 1000, 2000])  # blob 1 -> 3000, 2 -> 1000, 3 -> 2000
    _save16(tmp_path / "m.png", ids16)
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [1, 2, 3]
    expected = np.choose(blobs(), [0, 3, 1, 2])  # 1000 -> 1, 2000 -> 2, 3000 -> 3
    assert np.array_equal(mask.labels, expected)


def test_16bit_small_ids_are_kept(tmp_path):
    _save16(tmp_path / "m.png", np.choose(blobs(), [0, 7, 200, 41]))
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [7, 41, 200]
    assert np.array_equal(mask.labels, np.choose(blobs(), [0, 7, 200, 41]))


@pytest.mark.parametrize("high", [65535, 255, 1])
def test_16bit_binary_is_one_object(tmp_path, high):
    _save16(tmp_path / "m.png", (blobs() > 0) * high)
    mask = read_mask(tmp_path / "m.png")
    assert mask.object_ids == [1] and np.array_equal(mask.labels, (blobs() > 0).astype(np.uint8))


def test_16bit_300_ids_is_a_clear_error(tmp_path):
    labels = np.zeros((60, 100), np.uint16)
    for n in range(300):  # 300 solid 2x6 objects... give each a 3x3-solid body
        r, c = divmod(n, 20)
        labels[r * 4 : r * 4 + 3, c * 5 : c * 5 + 4] = 1000 + n
    _save16(tmp_path / "m.png", labels)
    with pytest.raises(InputError, match="300 distinct ids, more than the 255"):
        read_mask(tmp_path / "m.png")


def test_16bit_antialiased_mask_is_refused(tmp_path):
    fg = Image.fromarray(((blobs() > 0) * 255).astype(np.uint8)).filter(ImageFilter.BoxBlur(1))
    _save16(tmp_path / "m.png", np.array(fg).astype(np.uint16) * 257)  # soft 0..65535 edges
    with pytest.raises(InputError, match="antialiased"):
        read_mask(tmp_path / "m.png")
