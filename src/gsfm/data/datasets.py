"""The benchmark datasets, one `DatasetSpec` each: every command derives its choices and
defaults from this table (names, splits, default folders, engine defaults, output format).

Engine defaults are the original's evaluation settings: top-k 20 for DAVIS 2016 (one object
per sequence), 50 elsewhere, a memory frame every 3 frames. DAVIS 2016 results are 0/255 grey
PNGs (its evaluation reads `mask > 0`); the others are palette PNGs of object ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gsfm.errors import InputError


@dataclass(frozen=True)
class DatasetSpec:
    """One benchmark: where it lives and how it is run, scored and submitted.

    - family: the folder layout and its reader, "davis" (gsfm.data.davis), "youtube"
      (gsfm.data.youtube) or "generic" (a user's own videos, gsfm.data.generic: no splits).
    - root: default folder, relative to the working directory as in the original
      repositories' instructions; `test_root`: where the test splits live when they are a
      separate download (DAVIS 2017 test-dev).
    - splits: the official split names; `gt_splits`: those whose ground truth is public for
      every frame (only these can be scored locally); `train_split`: the one training reads.
    - zip_prefix: where result PNGs go inside the upload zip ("" = zip root), None = no zip
      (results are scored locally); `zip_splits` limits zips to those splits (None = all).
    - resize, reaggregate_on_join: the engine settings of the original's evaluation script
      for this dataset (`EngineConfig`): YouTube-VOS frames are resized as the original's
      loader does (normalise, bicubic without antialiasing, long side truncated; first masks
      legacy nearest) and a frame where objects join is aggregated twice, as the original's
      `interact`. DAVIS frames are 480p already: the defaults.
    """

    name: str
    family: str
    year: int
    root: Path
    splits: tuple[str, ...]
    gt_splits: tuple[str, ...]
    default_split: str
    train_split: str = "train"
    top_k: int = 50
    mem_every: int = 3
    binary: bool = False
    zip_prefix: str | None = None
    zip_splits: tuple[str, ...] | None = None
    test_root: Path | None = None
    resize: str = "antialias"
    reaggregate_on_join: bool = False

    def default_root(self, split: str | None = None) -> Path:
        """The folder looked in when no --root is given."""
        if self.test_root is not None and split is not None and split.startswith("test"):
            return self.test_root
        return self.root

    def has_ground_truth(self, split: str) -> bool:
        """False only for official splits whose ground truth is hidden (server-scored)."""
        return split not in self.splits or split in self.gt_splits

    def zip_prefix_for(self, split: str) -> str | None:
        """Member prefix of the upload zip for `split`, or None when it gets no zip."""
        if self.zip_prefix is None or (
            self.zip_splits is not None and split not in self.zip_splits
        ):
            return None
        return self.zip_prefix


_DAVIS_2017_TEST = ("test-dev", "test-challenge")


def _youtube(year: int, root: Path) -> DatasetSpec:
    """YouTube-VOS: both years share the layout, splits, zip and the original's resize."""
    return DatasetSpec(
        f"youtube{year}",
        "youtube",
        year,
        root,
        splits=("train", "valid", "test"),
        gt_splits=("train",),
        default_split="valid",
        zip_prefix="Annotations",
        resize="original",
        reaggregate_on_join=True,
    )


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "davis2016",
            "davis",
            2016,
            Path("data/DAVIS/2016"),
            splits=("train", "val"),
            gt_splits=("train", "val"),
            default_split="val",
            top_k=20,
            binary=True,
        ),
        DatasetSpec(
            "davis2017",
            "davis",
            2017,
            Path("data/DAVIS/2017/trainval"),
            splits=("train", "val", *_DAVIS_2017_TEST),
            gt_splits=("train", "val"),
            default_split="val",
            zip_prefix="",
            zip_splits=_DAVIS_2017_TEST,
            test_root=Path("data/DAVIS/2017/test-dev"),
        ),
        _youtube(2018, Path("data/YouTube2018")),
        _youtube(2019, Path("data/YouTube")),
        DatasetSpec(
            "generic",
            "generic",
            0,
            Path("data/videos"),
            splits=(),
            gt_splits=(),
            default_split="",
        ),
    )
}

# Datasets `gsfm evaluate` scores (it implements the DAVIS toolkit's measures).
EVALUATED = tuple(name for name, spec in DATASETS.items() if spec.family == "davis")

# `gsfm data fixture` layouts: every benchmark, plus the separate test download where one exists.
LAYOUTS = tuple(
    name
    for spec in DATASETS.values()
    if spec.family != "generic"
    for name in (spec.name, *((f"{spec.name}-test-dev",) if spec.test_root else ()))
)


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a dataset name, or an InputError listing the choices."""
    try:
        return DATASETS[name]
    except KeyError:
        raise InputError(
            f"unknown dataset {name!r}; choose from {', '.join(sorted(DATASETS))}"
        ) from None


def by_year(family: str, year: int | str) -> DatasetSpec:
    """The spec of a family's year (davis 2016/2017, youtube 2018/2019)."""
    for spec in DATASETS.values():
        if spec.family == family and str(spec.year) == str(year):
            return spec
    years = [s.year for s in DATASETS.values() if s.family == family]
    raise InputError(f"unknown {family} year {year!r}; expected one of {tuple(years)}")
