"""Presence test: is each object in this frame at all, judged by what the memory read sees.

The top-k readout always returns a mixture of memory values, however poor the best match,
so a frame without the object still reads "object" wherever it looks most like it (a cut to
a scene with the same colours; the place where the object was last seen), the decoder
paints it, and once such a frame is written to memory the false region matches itself from
then on. `scripts/absence_sources.py` measured this on the long procedural set: on the first
frames of a cut the squared key distance from the false region to the nearest memory entry
of the object is 3-30x the object's usual one; a few memory writes later it is near zero.

So the test looks at the frame's query keys where the decoder puts an object (its region:
cells of the key grid where the object's probability averages over 0.5) and, from the
affinities the readout already computed, takes the region's cell nearest to an entry of the
object (stored mask over 0.5): `d_obj` is that squared distance, `d_other` the distance from
the same cell to the nearest entry of something else (mask under 0.1); `novelty` is the
frame's median distance from each cell to its nearest entry of any kind. Per object, with
hysteresis:

- present -> absent when `d_obj` exceeds `leave` times the object's usual distance (the upper
  quartile of its last `window` present frames), `d_obj > ratio_out * d_other` (the region is
  not clearly more like the object than like the rest of the memory; a visible object is
  about 0.1-0.3 of the way), and the region has `min_cells` cells or the frame is new (a
  half-hidden object often shows in a single cell);
- present -> absent also when the region spreads over much of the frame: over `grow` times
  the object's usual size (upper quartile of its last `window` present regions) and over
  `spread` of the key grid. An absent object's decoder often paints the whole frame (a cut
  to a scene of its colours, or what stays behind once it left), and that region, written to
  memory, matches itself from then on; on the validation videos no present object's region
  grew that way;
- present -> absent at a cut: a frame over `cut` times the usual novelty is a new scene, and
  what the decoder paints there (a look-alike, nearer the object's entries than anything
  else, as designed) is not taken for the object;
- absent -> present when the decoder finds a region with `d_obj < ratio_in * d_other`,
  `d_obj` under `cap` times the usual distance, the region is not spread as above, and the
  frame is familiar: novelty under `novelty` times its usual level and, after a cut, under
  `scene_share` of the cut's own novelty (the frames the usual level was taken on predate
  the cut, and the objects' scene has moved on meanwhile) or `cut` times the usual.

The memory is kept clean, since the false regions come from frames written with them:
- while absent, an object's probabilities are zero (it is left empty), and a frame where
  the decoder still finds it is not written to memory: written, the look-alike would become
  the object, or, were the object back, the object would become background;
- frames where the decoder finds no object at all are not written (`skip_unseen`): written,
  the scene alone would fill the recent frames and a return would read only background;
- a frame is written `delay` frames late (the engine queues it), and dropped if an object
  is judged to leave meanwhile: the mask slides off an object as it hides or leaves, and
  once written those frames make the slid region look like the object, so that the test
  would never see it leave. The readout lags that much behind (a cost on fast motion).
Objects whose memory holds no entry over 0.5 (too small for the key grid) are never gated.
Only the engine's long-term memory keeps the masks this needs (`inference.longterm`).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from gsfm.inference.longterm import WORKING, LongTermMemory


@dataclass(frozen=True)
class PresenceSettings:
    """Thresholds of the presence test (chosen on the long set's validation videos)."""

    leave: float = 3.0
    ratio_out: float = 0.6
    ratio_in: float = 0.5
    cap: float = 20.0
    novelty: float = 100.0
    min_cells: int = 2
    core: bool = True  # also leave when far from the given and long-term entries
    grow: float = 4.0  # a region over `grow` times the object's usual size ...
    spread: float = 0.25  # ... and over this share of the frame is not the object
    window: int = 15
    warmup: int = 3  # present frames measured before the test may act
    delay: int = 30  # frames a memory write waits for the test before it is kept
    # A frame over `cut` times the usual novelty is a new scene (a cut): what the decoder
    # paints there is not taken for the object until the scene is familiar again.
    cut: float = 8.0
    # Frames where no object is seen stay out of memory: written, they would fill the recent
    # frames with the scene alone, and the object's return would read only background.
    skip_unseen: bool = True
    scene_share: float = 0.25  # back from a cut: novelty under this share of the cut's


@dataclass
class _ObjectState:
    present: bool = True
    usual: deque[float] = field(default_factory=deque)
    core: deque[float] = field(default_factory=deque)
    sizes: deque[float] = field(default_factory=deque)

    def usual_size(self, warmup: int) -> float | None:
        """The upper quartile of the object's recent region sizes (cells)."""
        if len(self.sizes) < warmup:
            return None
        return float(statistics.quantiles(self.sizes, n=4, method="inclusive")[2])

    def usual_core(self, warmup: int) -> float | None:
        """As `usual_distance`, for the distances to the given and long-term entries."""
        if len(self.core) < warmup:
            return None
        return float(statistics.quantiles(self.core, n=4, method="inclusive")[2])

    def usual_distance(self, warmup: int) -> float | None:
        """The upper quartile of the object's recent best-cell distances (None until
        `warmup` frames were measured)."""
        if len(self.usual) < warmup:
            return None
        return float(statistics.quantiles(self.usual, n=4, method="inclusive")[2])


class PresenceTest:
    """Per-object presence across the frames of one video (see the module doc)."""

    def __init__(self, settings: PresenceSettings | None = None) -> None:
        self.settings = settings or PresenceSettings()
        self.acting = True  # False: measure only (scripts/absence_sources.py)
        self.observer: Callable[[dict[str, list[float]]], None] | None = None
        self.reset()

    def reset(self) -> None:
        self.objects: list[_ObjectState] = []
        # an absent object's decoder finds something: keep this frame out of memory
        self.hold_write = False
        self.left = False  # an object was judged to leave on this frame
        self.seen = True  # the decoder found some object on this frame
        self.scene: float | None = None  # novelty of the cut that began the current scene
        self.novelty: deque[float] = deque(maxlen=self.settings.window)

    def add_objects(self, count: int) -> None:
        window = self.settings.window
        self.objects += [
            _ObjectState(
                usual=deque(maxlen=window), core=deque(maxlen=window), sizes=deque(maxlen=window)
            )
            for _ in range(count)
        ]

    @property
    def present(self) -> list[bool]:
        return [o.present for o in self.objects]

    @property
    def write_ok(self) -> bool:
        """May this frame be written to memory: no absent object's look-alike in it
        (`hold_write`) and, with `skip_unseen`, some object seen."""
        return not self.hold_write and (self.seen or not self.settings.skip_unseen)

    def gate(
        self, probs: Tensor, affinity: Tensor, query_key: Tensor, bank: LongTermMemory
    ) -> Tensor:
        """Decoder sigmoids [N, Hp, Wp], the frame's affinity [1, Q, M] to the memory and its
        key [1, Ck, h, w] -> the sigmoids with absent objects emptied."""
        stats = self.statistics(probs, affinity, query_key, bank)
        if self.observer is not None:
            self.observer({k: list(v) for k, v in stats.items()})
        self.hold_write = False
        self.left = False
        self.seen = not self.acting or any(r > 0 for r in stats["region"])
        if not self.acting:
            return probs
        s = self.settings
        usual_novelty = (
            statistics.quantiles(self.novelty, n=4, method="inclusive")[2]
            if len(self.novelty) >= s.warmup
            else None
        )
        novelty = stats["novelty"][0]
        familiar, new_scene = self._scene(novelty, usual_novelty)
        keep = []
        for n, state in enumerate(self.objects):
            d_obj, d_other = stats["obj_dist"][n], stats["bg_dist"][n]
            d_core = stats["core_dist"][n]
            judged = stats["region"][n] > 0 and math.isfinite(d_obj)
            usual = state.usual_distance(s.warmup)
            core_usual = state.usual_core(s.warmup)
            size, usual_size = stats["region"][n], state.usual_size(s.warmup)
            # the decoder spreads the object over much of the frame, far beyond its usual
            # size: what a frame without it looks like (a cut, the object gone), not an object
            spread = (
                usual_size is not None
                and size > s.grow * usual_size
                and size >= s.spread * stats.get("cells", [math.inf])[0]
            )
            if state.present and judged:
                far = usual is not None and d_obj > max(s.leave * usual, s.ratio_out * d_other)
                if s.core and core_usual is not None and math.isfinite(d_core):
                    far = far or d_core > max(s.leave * core_usual, s.ratio_out * d_other)
                # one cell is little to go on (an object half hidden): only in a new scene
                enough = size >= s.min_cells or not familiar
                if (far and enough) or spread or new_scene:
                    state.present = False
                    self.left = True
                else:
                    state.usual.append(d_obj)
                    state.sizes.append(size)
                    if math.isfinite(d_core):
                        state.core.append(d_core)
            elif judged:
                back = d_obj < s.ratio_in * d_other and (usual is None or d_obj < s.cap * usual)
                state.present = back and familiar and not spread
            self.hold_write |= judged and not state.present
            keep.append(state.present)
        if not self.hold_write:
            self.novelty.append(stats["novelty"][0])
        if all(keep):
            return probs
        alive = torch.tensor(keep, device=probs.device, dtype=probs.dtype)
        return probs * alive.view(-1, 1, 1)

    def _scene(self, novelty: float, usual: float | None) -> tuple[bool, bool]:
        """(familiar, new scene) of a frame of this novelty. A new scene: over `cut` times
        the usual novelty, or, once in one, over `scene_share` of the novelty its first frame
        had (the usual level was taken on the frames before the cut; coming back to the
        objects' scene, whose look moved on meanwhile, is a drop to a fraction of the cut's
        novelty, not all the way back). Familiar: under that level and under `novelty` times
        the usual."""
        s = self.settings
        if usual is None:
            return True, False
        level = s.cut * usual
        if self.scene is not None:
            level = max(level, s.scene_share * self.scene)
        new_scene = novelty > level
        if new_scene and self.scene is None:
            self.scene = novelty
        familiar = novelty < min(level, s.novelty * usual)
        if familiar:
            self.scene = None
        return familiar, new_scene

    @staticmethod
    def statistics(
        probs: Tensor, affinity: Tensor, query_key: Tensor, bank: LongTermMemory
    ) -> dict[str, list[float]]:
        """Per object: region (cells of the key grid where the decoder puts it; its best cell
        when none averages over 0.5 but some pixel does; 0 when no pixel does); obj_dist, the
        squared key distance from the region's cell that best matches the object to the
        object's nearest entry (inf when the memory has none), and bg_dist, from that cell to
        the nearest entry of something else."""
        h, w = query_key.shape[-2:]
        ck = query_key.shape[1]
        q = query_key.float().flatten(2)[0]  # [Ck, Q]
        # affinity = (2 q.k - |k|^2) / sqrt(Ck), so |q - k|^2 = |q|^2 - sqrt(Ck) affinity;
        # distances are taken for the rows needed only ([Q, M] is 0.5 GB at 480p)
        aff = affinity[0]  # [Q, M]
        q_sq, scale = q.pow(2).sum(0), math.sqrt(ck)  # [Q]
        stored = bank.object_masks()  # [M, N]
        # Entries of the object (mask over 0.5) and entries clearly of something else (under
        # 0.1); cells half on the object's outline count as neither.
        masks, others = stored > 0.5, stored < 0.1
        pooled = F.adaptive_avg_pool2d(probs[None], (h, w))[0].flatten(1)  # [N, Q]
        fires = (probs > 0.5).flatten(1).any(dim=1)
        # how unlike the memory the frame is: its cells' median distance to their nearest entry
        novelty = float((q_sq - scale * aff.amax(dim=1)).median())
        # the entries that do not follow the last frames: given masks and long-term prototypes
        core = torch.tensor([k != WORKING for k in bank.kinds], device=aff.device)
        core = core.repeat_interleave(h * w)[:, None] & masks  # [M, N]
        out: dict[str, list[float]] = {"region": [], "obj_dist": [], "bg_dist": [], "core_dist": []}
        out["novelty"] = [novelty]
        out["cells"] = [float(h * w)]
        inf = torch.tensor(float("inf"), device=aff.device)

        def nearest(entries: Tensor, at: Tensor) -> Tensor:
            """Squared distance from cells `at` to their nearest of `entries` (bool [M]):
            |q|^2 - sqrt(Ck) * max affinity, on those columns only (inf if none)."""
            columns = entries.nonzero()[:, 0]
            if columns.numel() == 0:
                return inf.expand(at.numel())
            if at.numel() * aff.shape[1] <= columns.numel() * aff.shape[0]:
                picked = aff[at].index_select(1, columns)  # few rows: rows first
            else:
                picked = aff.index_select(1, columns)[at]  # few columns: columns first
            return q_sq[at] - scale * picked.amax(dim=1)

        for n in range(probs.shape[0]):
            region = pooled[n] > 0.5
            if fires[n] and not bool(region.any()):
                region = pooled[n] == pooled[n].max()
            count = int(region.sum()) if fires[n] else 0
            out["region"].append(float(count))
            if count == 0:
                out["obj_dist"].append(math.nan)
                out["bg_dist"].append(math.nan)
                out["core_dist"].append(math.nan)
                continue
            cells = region.nonzero()[:, 0]  # [R]
            near_obj = nearest(masks[:, n], cells)
            best = cells[int(torch.argmin(near_obj))].view(1)
            out["obj_dist"].append(float(near_obj.min()))
            out["bg_dist"].append(float(nearest(others[:, n], best)[0]))
            out["core_dist"].append(float(nearest(core[:, n], cells).min()))
        return out
