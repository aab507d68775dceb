"""Reading the user's object masks and writing predicted ones.

`read_mask` turns whatever a user is likely to hand us into one label map of object ids plus
the palette their colours come from, so the output masks look like the input mask:

- palette ('P') PNGs: pixel values are object ids (DAVIS 2017, YouTube-VOS); palette kept.
  (An indexed-colour export whose black background is not index 0 is read as a colour mask.)
- grey masks ('L', '1', 16-bit, or RGB whose pixels are all grey): one object, the pixels
  brighter than half the brightest pixel (so 0/1, 0/255 and soft 0..255 masks all work); a grey
  mask holding a few small values (0, 1, 2, ... as `cv2.imwrite` saves an id map) is read as ids.
  16/32-bit integer masks are read by their values: one value (0/65535) is one object, several
  are ids (kept up to 255, else numbered 1..n in ascending order; more than 255 is an error).
  Palette: `DAVIS_PALETTE`.
- colour (RGB/RGBA) masks: each distinct non-black colour is an object (transparent pixels are
  background); ids follow the DAVIS palette when every colour is one of its entries, else the
  colours' (R, G, B) order; the palette maps each id back to its colour. A mask with too many
  colours (antialiased edges, JPEG noise) is refused with how to fix it.

Writes are atomic (temporary file, then rename): a crash never leaves half a PNG.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gsfm.atomic import atomic_path
from gsfm.errors import InputError

log = logging.getLogger(__name__)

# More distinct colours than this in an RGB mask is not a set of objects but antialiasing or
# compression noise (VOS annotations rarely exceed ~10 objects).
MAX_RGB_COLOURS = 32
# Grey masks whose values are all in 1..MAX_GREY_ID (and at least two of them) are id maps.
MAX_GREY_ID = 32
# A palette PNG (what gsfm writes) has 256 entries: background + 255 objects.
MAX_OBJECT_ID = 255

FIX_HINT = (
    "save it as a palette PNG of object ids, or paint it with a hard brush and save without "
    "antialiasing (nearest-neighbour), or give one black-and-white mask per object"
)


def _voc_palette() -> np.ndarray:
    """The PASCAL VOC / DAVIS palette: the bits of the index spread over R, G, B from the top."""
    index = np.arange(256)
    palette = np.zeros((256, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    out = palette.astype(np.uint8)
    out.setflags(write=False)
    return out


DAVIS_PALETTE: np.ndarray = _voc_palette()
"""(256, 3) uint8: 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), 4 (0,0,128), ..."""


@dataclass(frozen=True)
class LabelMask:
    """A mask as object ids: `labels` HxW uint8 (0 = background), `palette` (256, 3) uint8 with
    the colour of each id, `object_ids` the ids present, ascending."""

    labels: np.ndarray
    palette: np.ndarray
    object_ids: list[int]


# ----------------------------------------------------------------------------- reading


def read_mask(path: str | os.PathLike[str], *, max_objects: int = 255) -> LabelMask:
    """Read a mask PNG (palette, grey or colour; see the module docstring) as object ids."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask {path} not found")
    try:
        with Image.open(path) as img:
            img.load()
            labels, palette = _to_labels(img, path, max_objects)
    except InputError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InputError(f"cannot read mask {path}: {err}") from err
    ids = [int(i) for i in np.unique(labels) if i != 0]
    if not ids:
        raise InputError(f"no object in mask {path}: every pixel is background (0/black)")
    if len(ids) > max_objects:
        raise InputError(f"mask {path} has {len(ids)} objects, more than the {max_objects} allowed")
    return LabelMask(labels=labels, palette=palette, object_ids=ids)


_PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def read_labels(
    path: str | os.PathLike[str],
    *,
    binary: bool = False,
    grey: bool = False,
    indexed_only: bool = False,
    what: str = "annotation",
) -> np.ndarray:
    """A dataset annotation PNG as HxW object ids: the one reader of benchmark and training
    annotations (a user's --mask goes through `read_mask`, which also keeps its colours).

    Palette and grey PNGs give their pixel values (ids). `binary`: any non-zero pixel is
    object 1 (DAVIS 2016 0/255 masks). `grey`: the luminance 0..255 whatever the mode
    (salient-object masks, thresholded by the caller). A colour image is read by colour as
    `read_mask` does, or refused when `indexed_only` (results scored against ids must be
    palette PNGs). `what` names the file in errors; a missing file is FileNotFoundError.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            if grey:
                labels = np.array(img.convert("L"))
            elif img.mode in ("P", "L") or (indexed_only and not binary):
                labels = _integer_ids(np.array(img), img.mode, path, what)
            elif binary:
                labels = np.array(img.convert("L"))
            else:  # a colour annotation: one id per colour
                img.load()
                labels = _to_labels(img, path, 255)[0]
    except FileNotFoundError:
        raise
    except InputError:
        raise
    except _PIL_ERRORS as exc:
        raise InputError(f"{what}: cannot read {path}: {exc}") from None
    if labels.ndim != 2:
        raise InputError(
            f"{what}: {path} is not a single-channel indexed PNG (shape {labels.shape}); "
            "save masks as palette ('P') PNGs whose pixel values are object ids"
        )
    if binary:
        return (labels > 0).astype(np.uint8)
    return labels if indexed_only or grey else labels.astype(np.uint8)


def _integer_ids(labels: np.ndarray, mode: str, path: Path, what: str) -> np.ndarray:
    """The pixel values of an indexed read as 8-bit object ids: a float image (mode F) holds
    no ids, and 16/32-bit values are kept only when they fit in 0..255."""
    if labels.dtype.kind not in "biu":
        raise InputError(
            f"{what}: {path} holds {labels.dtype} pixels (mode {mode}), not object ids; save "
            "masks as palette ('P') PNGs whose pixel values are object ids"
        )
    if labels.dtype != np.uint8 and labels.ndim == 2 and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high > 255:
            raise InputError(
                f"{what}: {path} is a {mode} image with values {low}..{high}, not object ids "
                "0..255; save masks as 8-bit palette ('P') PNGs whose pixel values are object ids"
            )
        labels = labels.astype(np.uint8)
    return labels


def annotation_palette(path: str | os.PathLike[str]) -> np.ndarray:
    """The palette of an annotation PNG as (256, 3) (DAVIS's when it has none)."""
    try:
        with Image.open(path) as img:
            flat = img.getpalette() if img.mode in ("P", "PA") else None
    except _PIL_ERRORS as exc:
        raise InputError(f"annotation: cannot read {path}: {exc}") from None
    return _full_palette(flat) if flat else DAVIS_PALETTE.copy()


def _to_labels(img: Image.Image, path: Path, max_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Dispatch on the PNG mode; returns (labels, palette)."""
    if img.mode in ("P", "PA"):
        labels = np.array(img.getchannel(0) if img.mode == "PA" else img, dtype=np.uint8)
        palette = _full_palette(img.getpalette() or [])
        used = np.unique(labels)
        black = [i for i in used if i != 0 and not palette[i].any()]
        if not (palette[0].any() and black):
            return labels, palette
        # An editor's indexed-colour export (black background not at index 0): read by colour.
        log.info("palette mask %s has black at index %d, not 0: read by colour", path, black[0])
        img = img.convert("RGB")
    if img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
        grey = np.array(img.getchannel(0) if img.mode == "LA" else img)
        if img.mode == "LA":
            grey = np.where(np.array(img.getchannel("A")) == 0, 0, grey)
        return _grey_labels(grey, path), DAVIS_PALETTE.copy()
    rgba = np.array(img.convert("RGBA"))
    rgb = np.where(rgba[..., 3:] == 0, 0, rgba[..., :3]).astype(np.uint8)
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return _grey_labels(rgb[..., 0], path), DAVIS_PALETTE.copy()
    return _colour_labels(rgb, path, min(max_objects, MAX_RGB_COLOURS))


def _full_palette(flat: list[int]) -> np.ndarray:
    """A PNG palette as (256, 3); entries the file does not define come from the DAVIS one."""
    palette = DAVIS_PALETTE.copy()
    given = np.asarray(flat[: 256 * 3], dtype=np.uint8)
    given = given[: len(given) // 3 * 3].reshape(-1, 3)
    palette[: len(given)] = given
    return palette


def _grey_labels(grey: np.ndarray, path: Path) -> np.ndarray:
    """One object, or an id map: see the module docstring (8-bit and float masks may be soft,
    wider integer masks hold ids)."""
    grey = np.asarray(grey)
    if grey.dtype == bool:
        return grey.astype(np.uint8)
    values = np.unique(grey)
    if values[0] < 0:
        raise InputError(f"mask {path} holds negative values ({values[0]}); ids must be >= 0")
    nonzero = values[values > 0]
    if len(nonzero) == 0:
        return np.zeros(grey.shape, dtype=np.uint8)
    if len(nonzero) == 1:  # 0/1, 0/255, 0/65535: one object
        return (grey > 0).astype(np.uint8)
    if grey.dtype.kind in "iu" and grey.dtype.itemsize > 1:
        return _wide_ids(grey, nonzero, path)
    if nonzero.max() <= MAX_GREY_ID and np.all(nonzero == np.round(nonzero)):
        log.info("grey mask %s holds ids %s: read as one object per value", path, nonzero.tolist())
        return grey.astype(np.uint8)
    return (grey > nonzero.max() / 2).astype(np.uint8)


def _wide_ids(grey: np.ndarray, ids: np.ndarray, path: Path) -> np.ndarray:
    """A 16/32-bit integer mask read by its values: ids up to 255 are kept; larger ones are
    numbered 1..n in ascending order (a palette PNG holds 255 objects at most)."""
    if len(ids) > MAX_OBJECT_ID:
        raise InputError(
            f"16-bit mask {path} holds {len(ids)} distinct ids, more than the {MAX_OBJECT_ID} "
            "objects a palette PNG can hold; if it is a soft (antialiased) mask, save it as "
            "8-bit or black-and-white"
        )
    index = np.searchsorted(ids, grey) + 1  # position of each value among the ids, 1-based
    index[grey == 0] = 0
    thin = _thin_colours(index, list(range(1, len(ids) + 1)))
    if len(thin) >= 3 and len(thin) >= len(ids) - len(thin):
        raise InputError(
            f"16-bit mask {path} has {len(ids)} values, {len(thin)} of them only thin slivers "
            f"along edges; it looks antialiased: {FIX_HINT}"
        )
    if ids.max() <= MAX_OBJECT_ID:
        return grey.astype(np.uint8)
    shown = ", ".join(f"{v} -> {n}" for n, v in enumerate(ids[:5].tolist(), 1))
    log.info("mask %s holds ids above %d: read as objects %s", path, MAX_OBJECT_ID, shown)
    return index.astype(np.uint8)


def _colour_labels(rgb: np.ndarray, path: Path, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct non-black colour -> an id; refuse antialiased / noisy colour masks."""
    packed = (
        (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    )
    codes, index = np.unique(packed, return_inverse=True)
    index = index.reshape(packed.shape)
    colours = [(int(c >> 16), int((c >> 8) & 255), int(c & 255)) for c in codes]
    objects = [i for i, c in enumerate(colours) if c != (0, 0, 0)]
    if len(objects) > limit:
        raise InputError(
            f"colour mask {path} has {len(objects)} colours, too many to be objects (at most "
            f"{limit}); it looks antialiased or compressed: {FIX_HINT}"
        )
    thin = _thin_colours(index, objects)
    if len(thin) >= 3 and len(thin) >= len(objects) - len(thin):
        raise InputError(
            f"colour mask {path} has {len(objects)} colours, {len(thin)} of them only thin "
            f"slivers along edges; it looks antialiased: {FIX_HINT}"
        )
    davis = {tuple(int(v) for v in c): i for i, c in enumerate(DAVIS_PALETTE) if i > 0}
    if all(colours[i] in davis for i in objects):
        ids = {i: davis[colours[i]] for i in objects}
    else:
        ids = {i: n + 1 for n, i in enumerate(objects)}  # np.unique sorts by (R, G, B)
    lut = np.zeros(len(codes), dtype=np.uint8)
    palette = DAVIS_PALETTE.copy()
    for i, target in ids.items():
        lut[i] = target
        palette[target] = colours[i]
    return lut[index], palette


def _thin_colours(index: np.ndarray, objects: list[int]) -> list[int]:
    """Colours with no pixel whose 3x3 neighbourhood is all that colour (edge slivers)."""
    if not objects:
        return []
    padded = np.pad(index, 1, mode="edge")
    h, w = index.shape
    interior = np.ones(index.shape, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            interior &= padded[dy : dy + h, dx : dx + w] == index
    solid = set(np.unique(index[interior]).tolist())
    return [i for i in objects if i not in solid]


# ----------------------------------------------------------------------------- writing


def write_palette_png(
    path: str | os.PathLike[str], labels: np.ndarray, palette: np.ndarray | list[int]
) -> None:
    """Write object ids as a palette ('P') PNG, atomically, so ids survive any image viewer."""
    labels = _check_labels(labels)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1)
    full = _full_palette(pal.tolist())
    img = Image.fromarray(labels)  # 'L'; putpalette turns it into 'P' keeping the values
    img.putpalette(full.reshape(-1).tolist())
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def write_binary_png(path: str | os.PathLike[str], labels: np.ndarray) -> None:
    """Write a single-object mask as a grey 0/255 PNG (DAVIS 2016 layout), atomically."""
    labels = _check_labels(labels)
    img = Image.fromarray(np.where(labels > 0, 255, 0).astype(np.uint8))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise ValueError("labels must be object ids in 0..255")
        labels = labels.astype(np.uint8)
    return np.ascontiguousarray(labels)


# ----------------------------------------------------------------------------- resizing


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label map to (h, w): ids are never blended."""
    labels = np.asarray(labels)
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size}")
    src_h, src_w = labels.shape[:2]
    rows = np.minimum(((np.arange(h) + 0.5) * src_h / h).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * src_w / w).astype(np.int64), src_w - 1)
    return labels[rows[:, None], cols[None, :]]
