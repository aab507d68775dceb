"""A first mask from a box and a few strokes: OpenCV's GrabCut on a crop around the box.

Why here: a person with a video but no mask should not have to paint the first mask pixel by
pixel. No learned click model can be shipped, but `cv2.grabCut` (colour models of the inside
and the outside of a box, then a graph cut) needs none. Strokes are hard labels (foreground or
background); the previous mask, when given, is where the next GrabCut starts, so a correction
refines the last result instead of starting again from the box. A new stroke first spreads
over the connected pixels of its colour (a stroke on a wrong region means the region, not
only the painted pixels), and a correction changes nothing far from it: GrabCut's colour
models, learnt again on every call, can otherwise flip parts of the mask the user never
pointed at.

Speed: GrabCut's time grows with the pixels it sees, so it runs on the box plus a margin,
shrunk to at most `max_pixels`; the result comes back to full size through a guided filter on
the full-resolution frame, which puts the edge back on the image's own edges.

Torch-free (numpy and OpenCV only): `gsfm segment --box`, `gsfm serve` and the benchmark
(`gsfm bench first-mask`) call the same `from_box`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from gsfm.errors import InputError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; x1 and y1 exclusive


@dataclass(frozen=True)
class FirstMaskConfig:
    """How `from_box` works; the defaults were chosen on the benchmark's validation videos
    (docs/RESULTS.md, "First mask from a box")."""

    margin: float = 0.1  # margin around the box, as a fraction of its longer side ...
    min_margin: int = 8  # ... and at least this many pixels
    max_pixels: int = 25_000  # GrabCut runs on the crop shrunk to at most this many pixels
    iterations: int = 5  # GrabCut iterations from a box
    correction_iterations: int = 3  # from the previous mask and strokes
    hole_fraction: float = 0.02  # holes under this fraction of the object's area are filled
    keep_fraction: float = 0.2  # other parts kept when at least this fraction of the largest
    refine_radius: float = 2.0  # guided filter radius, in pixels of the shrunk crop
    refine_eps: float = 1e-3  # guided filter regularisation (grey levels in 0..1)
    grow: float = 8.0  # new strokes spread over connected pixels of their colour (Mahalanobis²)
    grow_floor: float = 8.0  # ... with their colour spread taken as at least this (grey levels)
    max_spread: float = 1.0  # ... unless that is over this fraction of the previous mask
    reach: float = 0.3  # a correction changes pixels this near its strokes (x the box's side)


def check_box(box: object, size: tuple[int, int], what: str = "box") -> Box:
    """The box as four ints, or an InputError saying what is wrong with it (`size` = H, W)."""
    height, width = size
    try:
        x0, y0, x1, y1 = (int(v) for v in box)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise InputError(f"{what} must be four numbers x0,y0,x1,y1, got {box!r}") from None
    text = f"{what} {x0},{y0},{x1},{y1}"
    if x1 < x0 or y1 < y0:
        raise InputError(
            f"{text} is inverted: x0,y0 is the top-left corner, x1,y1 the bottom-right"
        )
    if x1 == x0 or y1 == y0:
        raise InputError(f"{text} is empty (x1 and y1 are exclusive: x1 > x0 and y1 > y0)")
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise InputError(
            f"{text} reaches outside the {width}x{height} frame (x in 0..{width}, y in 0..{height})"
        )
    return x0, y0, x1, y1


def box_of(mask: np.ndarray) -> Box | None:
    """The tight box (x1, y1 exclusive) around a mask's pixels; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def from_box(
    image: np.ndarray,
    box: Box,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    previous: np.ndarray | None = None,
    config: FirstMaskConfig | None = None,
) -> np.ndarray:
    """The [H, W] bool mask of the object in `box` of an [H, W, 3] uint8 RGB `image`.

    `foreground` / `background`: [H, W] bool strokes, hard labels (a foreground stroke outside
    the box widens the region looked at). `previous`: the object's current [H, W] bool mask;
    GrabCut then starts from it, and only the pixels near the strokes that disagree with it
    may change (a correction is local: it never undoes the mask far from where the user
    pointed). The largest part, the parts under foreground strokes and parts nearly as large
    are kept; small holes are filled. The same inputs give the same mask.
    """
    config = config or FirstMaskConfig()
    image = _check_image(image)
    size = image.shape[:2]
    box = check_box(box, size)
    fg = _check_mask(foreground, size, "foreground")
    bg = _check_mask(background, size, "background")
    prev = _check_mask(previous, size, "previous")
    if prev is not None:
        new = _disagreeing(prev, fg, bg)
        if not new.any():  # every stroke already agrees: nothing to correct
            return _with_strokes(prev, fg, bg)
    region = _union(
        _union(box, _outside(fg, box, size, config)), box_of(prev) if prev is not None else None
    )
    crop = _crop(region, size, config)
    window = (slice(crop[1], crop[3]), slice(crop[0], crop[2]))
    patch = image[window]
    part = [None if m is None else m[window] for m in (fg, bg, prev)]

    mask, grown = _segment(patch, _inside(region, crop), *part, config)
    if prev is not None:
        reach = max(1, round(config.reach * max(box[2] - box[0], box[3] - box[1])))
        pointed = new[window] | grown
        far = cv2.distanceTransform((~pointed).astype(np.uint8), cv2.DIST_L2, 3) > reach
        mask = np.where(far, part[2], mask)
    mask = _tidy(_with_strokes(mask, part[0], part[1]), part[0], part[1], config)
    if not mask.any():  # GrabCut found nothing: keep what the user had
        mask = _fallback(box, crop, part[2], part[0], part[1])
    out = np.zeros(size, bool)
    out[window] = mask
    return out


def _segment(
    patch: np.ndarray,
    region: Box,
    fg: np.ndarray | None,
    bg: np.ndarray | None,
    prev: np.ndarray | None,
    config: FirstMaskConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut on the crop, shrunk to at most `max_pixels`, brought back to the crop's size
    through a guided filter on the full-resolution crop; and the pixels the new strokes
    spread over (see `_grow`), at the crop's size."""
    height, width = patch.shape[:2]
    scale = min(1.0, float(np.sqrt(config.max_pixels / (height * width))))
    small = _shrink(patch, scale)
    shape = small.shape[:2]
    x0, y0, x1, y1 = _scaled(region, scale, shape)
    labels = np.full(shape, cv2.GC_BGD, np.uint8)
    grown = np.zeros(shape, bool)
    if prev is None:
        labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    else:
        start = _shrink_mask(prev, shape)
        before = start.copy()
        if config.grow > 0:
            inside = np.zeros(shape, bool)
            inside[y0:y1, x0:x1] = True
            most = config.max_spread * before.sum()  # a spread over this is a leak: none
            reach = config.reach * max(x1 - x0, y1 - y0)
            if bg is not None:
                seeds = _shrink_mask(bg & prev, shape)
                other = start & (_distance_to(seeds) > reach)
                spread = _grow(small, seeds, start, other, config)
                start &= ~(spread if spread.sum() <= most else seeds)
            if fg is not None:
                seeds = _shrink_mask(fg & ~prev, shape)
                other = ~start & (_distance_to(seeds) > reach)
                spread = _grow(small, seeds, ~start & inside, other, config)
                start |= spread if spread.sum() <= most else seeds
        grown = start != before
        start = start[y0:y1, x0:x1]
        labels[y0:y1, x0:x1] = np.where(start, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
    if bg is not None:
        labels[_shrink_mask(bg, shape)] = cv2.GC_BGD
    if fg is not None:
        labels[_shrink_mask(fg, shape)] = cv2.GC_FGD
    _grabcut(small, labels, config.iterations if prev is None else config.correction_iterations)
    soft = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        soft = cv2.resize(soft, (width, height), interpolation=cv2.INTER_LINEAR)
        radius = max(1, round(config.refine_radius / scale))
        soft = _guided_filter(_grey(patch), soft, radius, config.refine_eps)
        grown = cv2.resize(grown.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return soft > 0.5, grown.astype(bool)


def _grow(
    image: np.ndarray,
    seeds: np.ndarray,
    allowed: np.ndarray,
    other: np.ndarray,
    config: FirstMaskConfig,
) -> np.ndarray:
    """The pixels of `allowed` connected to the seeds through colours like the seeds' and
    unlike `other`'s (what the stroke is not: the rest of the object for a background stroke,
    the rest of the background for a foreground one). Like: squared Mahalanobis distance to
    the seeds' colours under `grow` (their spread taken as at least `grow_floor` grey levels);
    unlike: nearer to the seeds' colours than to any of five colour clusters of `other`."""
    if not seeds.any():
        return seeds
    pixels = image.reshape(-1, 3).astype(np.float32)
    to_stroke = _distance(pixels, pixels[seeds.reshape(-1)], config.grow_floor)
    near = to_stroke < config.grow
    rest = pixels[other.reshape(-1)]
    if len(rest) >= COLOUR_CLUSTERS:
        cv2.setRNGSeed(0)
        criteria = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, 10, 1.0)
        _, assign, _ = cv2.kmeans(rest, COLOUR_CLUSTERS, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
        for c in range(COLOUR_CLUSTERS):
            cluster = rest[assign.ravel() == c]
            if len(cluster):
                near &= to_stroke < _distance(pixels, cluster, config.grow_floor)
    near = near.reshape(seeds.shape) & allowed | seeds
    _, parts = cv2.connectedComponents(near.astype(np.uint8), connectivity=8)
    hit = np.unique(parts[seeds])
    return np.isin(parts, hit[hit > 0])


COLOUR_CLUSTERS = 5


def _distance(pixels: np.ndarray, sample: np.ndarray, floor: float) -> np.ndarray:
    """Squared Mahalanobis distance of each pixel to the sample's colours (a Gaussian whose
    spread is at least `floor` grey levels)."""
    mean = sample.mean(0)
    cov = np.cov(sample.T) if len(sample) > 3 else np.zeros((3, 3))
    inverse = np.linalg.inv(cov + floor**2 * np.eye(3)).astype(np.float32)
    diff = pixels - mean
    return np.einsum("ij,jk,ik->i", diff, inverse, diff)


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Each pixel's distance to the nearest pixel of `mask`."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)


def _disagreeing(prev: np.ndarray, fg: np.ndarray | None, bg: np.ndarray | None) -> np.ndarray:
    """Stroke pixels the previous mask gets wrong: the new strokes (old ones are obeyed)."""
    new = np.zeros_like(prev)
    if fg is not None:
        new |= fg & ~prev
    if bg is not None:
        new |= bg & prev
    return new


def _with_strokes(mask: np.ndarray, fg: np.ndarray | None, bg: np.ndarray | None) -> np.ndarray:
    mask = mask.copy()
    if bg is not None:
        mask &= ~bg
    if fg is not None:
        mask |= fg
    return mask


def _fallback(
    box: Box, crop: Box, prev: np.ndarray | None, fg: np.ndarray | None, bg: np.ndarray | None
) -> np.ndarray:
    """The previous mask with the strokes, or else the box itself (never an empty mask)."""
    if prev is None:
        prev = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), bool)
        x0, y0, x1, y1 = _inside(box, crop)
        prev[y0:y1, x0:x1] = True
    return _with_strokes(prev, fg, bg)


def labels_from_boxes(
    image: np.ndarray,
    boxes: list[tuple[int, Box]],
    labels: np.ndarray | None = None,
    config: FirstMaskConfig | None = None,
) -> np.ndarray:
    """A label map with one object per `(id, box)`, each from `from_box`, added to `labels`
    (the objects of a mask given for the same frame keep their pixels). Where two boxes'
    masks overlap, the smaller object gets the pixel: an object inside another's box is most
    often in front of it, and the larger box's GrabCut tends to swallow it."""
    image = _check_image(image)
    out = np.zeros(image.shape[:2], np.uint8) if labels is None else labels.copy()
    free = out == 0
    masks = [(obj, from_box(image, box, config=config)) for obj, box in boxes]
    for obj, mask in sorted(masks, key=lambda m: -int(m[1].sum())):  # largest first
        out[mask & free] = obj
    return out


# ----------------------------------------------------------------------------- checks


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"the image must be [H, W, 3] uint8 RGB, got {image.dtype} {image.shape}")
    return image


def _check_mask(mask: np.ndarray | None, size: tuple[int, int], name: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != size:
        raise InputError(f"the {name} mask is {mask.shape}, not the image's {size}")
    mask = mask.astype(bool, copy=False)
    return mask if mask.any() else None


# ----------------------------------------------------------------------------- geometry


def _union(box: Box, other: Box | None) -> Box:
    if other is None:
        return box
    return (
        min(box[0], other[0]),
        min(box[1], other[1]),
        max(box[2], other[2]),
        max(box[3], other[3]),
    )


def _outside(
    fg: np.ndarray | None, box: Box, size: tuple[int, int], config: FirstMaskConfig
) -> Box | None:
    """Around the foreground strokes outside the box (by `reach`): where the object goes on."""
    if fg is None:
        return None
    x0, y0, x1, y1 = box
    out = fg.copy()
    out[y0:y1, x0:x1] = False
    found = box_of(out)
    if found is None:
        return None
    r = round(config.reach * max(x1 - x0, y1 - y0))
    height, width = size
    return (
        max(0, found[0] - r),
        max(0, found[1] - r),
        min(width, found[2] + r),
        min(height, found[3] + r),
    )


def _crop(region: Box, size: tuple[int, int], config: FirstMaskConfig) -> Box:
    """The region plus a margin, inside the frame."""
    height, width = size
    x0, y0, x1, y1 = region
    margin = max(config.min_margin, round(config.margin * max(x1 - x0, y1 - y0)))
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )


def _inside(box: Box, crop: Box) -> Box:
    """A box in the crop's coordinates."""
    return box[0] - crop[0], box[1] - crop[1], box[2] - crop[0], box[3] - crop[1]


def _scaled(box: Box, scale: float, size: tuple[int, int]) -> Box:
    """A box (crop coordinates) in the shrunk crop's pixels, at least one pixel wide."""
    height, width = size
    x0 = min(width - 1, int(np.floor(box[0] * scale)))
    y0 = min(height - 1, int(np.floor(box[1] * scale)))
    x1 = max(x0 + 1, min(width, int(np.ceil(box[2] * scale))))
    y1 = max(y0 + 1, min(height, int(np.ceil(box[3] * scale))))
    return x0, y0, x1, y1


def _shrink(patch: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return np.ascontiguousarray(patch)
    h, w = patch.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(patch, size, interpolation=cv2.INTER_AREA)


def _shrink_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A new mask at the shrunk size; a pixel is marked when any of its area was (thin strokes
    survive the shrinking)."""
    if mask.shape == size:
        return mask.copy()
    area = cv2.resize(mask.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return area > 0


# ----------------------------------------------------------------------------- GrabCut


def _grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> None:
    """GrabCut in place on `labels`; nothing to do when no pixel is left undecided, or when
    one side has no pixel to learn its colours from. GrabCut seeds its colour models with
    k-means from OpenCV's random generator, which is reset first: same inputs, same mask."""
    undecided = np.isin(labels, (cv2.GC_PR_FGD, cv2.GC_PR_BGD))
    fg_side = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))
    if not undecided.any() or fg_side.all() or not fg_side.any():
        return
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    bgr = np.ascontiguousarray(image[..., ::-1])
    cv2.grabCut(bgr, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): `src` smoothed but following `guide`'s edges."""
    k = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = mean(guide), mean(src)
    cov = mean(guide * src) - mean_i * mean_p
    var = mean(guide * guide) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


# ----------------------------------------------------------------------------- tidying


def _tidy(
    mask: np.ndarray, fg: np.ndarray | None, bg: np.ndarray | None, config: FirstMaskConfig
) -> np.ndarray:
    """Keep the largest part, the parts under foreground strokes and parts at least
    `keep_fraction` of the largest; fill holes under `hole_fraction` of the object (not
    where a background stroke is)."""
    count, parts, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = areas >= config.keep_fraction * areas.max()
    if fg is not None:
        under = np.unique(parts[fg])
        keep[under[under > 0] - 1] = True
    kept = np.concatenate([[False], keep])[parts]
    _, holes, stats, _ = cv2.connectedComponentsWithStats((~kept).astype(np.uint8), connectivity=4)
    h, w = kept.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    edge = (x == 0) | (y == 0) | (x + bw == w) | (y + bh == h)  # the background around
    small = ~edge & (area < config.hole_fraction * kept.sum())
    small[0] = False  # label 0: the kept pixels themselves
    if bg is not None:
        small[np.unique(holes[bg])] = False  # a hole the user marked as background stays
    return kept | small[holes]
