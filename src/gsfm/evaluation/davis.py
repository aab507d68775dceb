"""Semi-supervised DAVIS 2016/2017 evaluation with the official toolkit's semantics.

Reads ground truth in the official folder layouts and result PNGs `<results>/<seq>/<frame>.png`,
scores every object on every frame except the first and the last, and writes the toolkit's two
CSV files. Unlike the toolkit, scores are always recomputed (stale CSVs are never reused).
"""

from __future__ import annotations

import csv
import logging
import math
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from gsfm.atomic import atomic_path
from gsfm.data.davis import parse_split, split_file
from gsfm.data.masks import read_labels
from gsfm.errors import InputError, OutputError
from gsfm.evaluation.metrics import label_scores, statistics
from gsfm.machine import usable_cores

log = logging.getLogger(__name__)

YEARS = (2016, 2017)
GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")
# The toolkit's label for void (unlabelled) pixels; treated as background in semi-supervised mode.
VOID_LABEL = 255


@dataclass
class ObjectScores:
    """Per-frame J and F of one object (`<sequence>_<id>`) and their summary statistics."""

    sequence: str
    object_id: int
    j: np.ndarray
    f: np.ndarray
    j_stats: tuple[float, float, float] = field(init=False)
    f_stats: tuple[float, float, float] = field(init=False)

    def __post_init__(self) -> None:
        self.j_stats = statistics(self.j)
        self.f_stats = statistics(self.f)

    @property
    def name(self) -> str:
        return f"{self.sequence}_{self.object_id}"


@dataclass
class EvaluationResult:
    """All object scores of one evaluation run, with the toolkit's global aggregation."""

    year: int
    split: str
    sequences: list[str]
    objects: list[ObjectScores]

    def global_metrics(self) -> dict[str, float]:
        """Toolkit global row: each statistic averaged over objects (not over sequences)."""
        if not self.objects:
            return dict.fromkeys(GLOBAL_COLUMNS, math.nan)
        j = np.array([o.j_stats for o in self.objects])
        f = np.array([o.f_stats for o in self.objects])
        j_mean, j_recall, j_decay = (float(x) for x in j.mean(axis=0))
        f_mean, f_recall, f_decay = (float(x) for x in f.mean(axis=0))
        values = ((j_mean + f_mean) / 2, j_mean, j_recall, j_decay, f_mean, f_recall, f_decay)
        return dict(zip(GLOBAL_COLUMNS, values))

    def per_object_rows(self) -> list[tuple[str, float, float]]:
        """Toolkit "per-sequence" rows: one (name, J-Mean, F-Mean) per object."""
        return [(o.name, o.j_stats[0], o.f_stats[0]) for o in self.objects]

    def per_sequence_means(self) -> dict[str, tuple[float, float]]:
        """Mean over each sequence's objects of (J-Mean, F-Mean), for charts."""
        out: dict[str, tuple[float, float]] = {}
        for seq in self.sequences:
            objs = [o for o in self.objects if o.sequence == seq]
            if objs:
                out[seq] = (
                    float(np.mean([o.j_stats[0] for o in objs])),
                    float(np.mean([o.f_stats[0] for o in objs])),
                )
        return out


def _check_year(year: int | str) -> int:
    try:
        value = int(year)
    except (TypeError, ValueError):
        value = -1
    if value not in YEARS:
        raise InputError(f"unknown DAVIS year {year!r}; expected one of {YEARS}")
    return value


def read_sequences(davis_root: str | Path, split: str, year: int | str) -> list[str]:
    """Sequence names of a split, in file order."""
    year = _check_year(year)
    path = split_file(Path(davis_root), year, split)
    names = parse_split(path.read_text())
    if not names:
        raise InputError(f"split file {path} lists no sequences")
    return names


def read_ground_truth(
    davis_root: str | Path, sequence: str, year: int | str
) -> tuple[np.ndarray, list[str]]:
    """Label maps `[T, H, W]` (0 = background, k = object k) and frame ids of one sequence.

    DAVIS 2017: void (255) becomes background. DAVIS 2016: binary 0/255 masks, one object.
    """
    year = _check_year(year)
    folder = Path(davis_root) / "Annotations" / "480p" / sequence
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise InputError(f"sequence '{sequence}': no ground-truth annotations in {folder}")
    frames = []
    for p in paths:
        labels = read_labels(
            p, indexed_only=True, what=f"sequence '{sequence}' ground truth frame '{p.stem}'"
        )
        if year == 2016:
            labels = (labels > 0).astype(np.uint8)
        else:
            void = labels == VOID_LABEL
            if void.any():  # rare: skip the masked write on frames without void pixels
                labels[void] = 0
        if frames and labels.shape != frames[0].shape:
            raise InputError(
                f"sequence '{sequence}': ground truth frame '{p.stem}' has size "
                f"{labels.shape}, the first frame {frames[0].shape}"
            )
        frames.append(labels)
    return np.stack(frames), [p.stem for p in paths]


def results_folder(results_dir: str | Path, sequence: str) -> Path:
    """`<results>/<sequence>`, or an InputError naming the sequence when it is missing."""
    folder = Path(results_dir) / sequence
    if not folder.is_dir():
        raise InputError(f"sequence '{sequence}': results folder {folder} not found")
    return folder


def read_results(
    results_dir: str | Path,
    sequence: str,
    frame_ids: list[str],
    year: int | str,
    shape: tuple[int, int],
) -> np.ndarray:
    """Predicted label maps `[T, H, W]` for the given frame ids (DAVIS 2016: binarised)."""
    year = _check_year(year)
    folder = results_folder(results_dir, sequence)
    frames = []
    for frame_id in frame_ids:
        path = folder / f"{frame_id}.png"
        what = f"sequence '{sequence}' frame '{frame_id}'"
        try:
            labels = read_labels(path, indexed_only=True, what=what)
        except FileNotFoundError:
            raise InputError(f"{what}: result mask {path} not found") from None
        if labels.shape != tuple(shape):
            raise InputError(
                f"{what}: result size {labels.shape} differs from the ground truth {tuple(shape)}"
            )
        frames.append((labels > 0).astype(np.uint8) if year == 2016 else labels)
    return np.stack(frames)


def evaluate_sequence(
    sequence: str, davis_root: str | Path, results_dir: str | Path, year: int | str
) -> list[ObjectScores]:
    """Score every ground-truth object of one sequence (first and last frame excluded)."""
    year = _check_year(year)
    gt, frame_ids = read_ground_truth(davis_root, sequence, year)
    if len(frame_ids) < 3:
        raise InputError(
            f"sequence '{sequence}': needs at least 3 annotated frames "
            f"(first and last are not scored), found {len(frame_ids)}"
        )
    n_objects = int(gt[0].max())
    gt, frame_ids = gt[1:-1], frame_ids[1:-1]
    pred = read_results(results_dir, sequence, frame_ids, year, gt.shape[1:])
    n_pred = int(pred.max())
    if n_pred > n_objects:
        raise InputError(
            f"sequence '{sequence}': results contain object id {n_pred} but the "
            f"first ground-truth frame has only {n_objects} object(s)"
        )
    if n_objects == 0:
        log.warning("sequence '%s': first ground-truth frame has no objects; skipped", sequence)
    ids = range(1, n_objects + 1)
    j, f = label_scores(gt, pred, ids)
    return [ObjectScores(sequence, k, j[i], f[i]) for i, k in enumerate(ids)]


def object_jf(gt: np.ndarray, pred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of object id `k` in label maps [T, H, W] (absent = empty mask)."""
    j, f = label_scores(gt, pred, [k])
    return j[0], f[0]


def default_workers() -> int:
    """Scoring processes when none are asked for: the cores this process may run on."""
    return usable_cores()


def _sequence_cost(davis_root: Path, sequence: str) -> int:
    """Annotated frames of a sequence: scoring time grows with it (longest first)."""
    return sum(1 for _ in (davis_root / "Annotations" / "480p" / sequence).glob("*.png"))


def _scored(job: tuple[int, partial, str]) -> tuple[int, list[ObjectScores]]:
    index, func, sequence = job
    return index, func(sequence)


def _map(
    func: partial, items: list[str], workers: int, davis_root: Path
) -> Iterator[tuple[int, list[ObjectScores]]]:
    """(index, func(item)) for each item, in completion order, over `workers` processes."""
    if workers <= 1 or len(items) <= 1:
        yield from enumerate(map(func, items))
        return
    # Longest sequences first, so that no worker is left alone with a long one at the end.
    order = sorted(range(len(items)), key=lambda i: -_sequence_cost(davis_root, items[i]))
    # forkserver: no fork of a parent that may hold threads (tqdm monitor, BLAS, torch).
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(min(workers, len(items))) as pool:
        yield from pool.imap_unordered(_scored, [(i, func, items[i]) for i in order])


def evaluate_davis(
    davis_root: str | Path,
    split: str,
    results_dir: str | Path,
    year: int | str,
    *,
    workers: int = 1,
    out_dir: str | Path | None = None,
) -> EvaluationResult:
    """Evaluate a results folder on a DAVIS split and write the toolkit's CSVs.

    CSVs go to `out_dir` (default: `results_dir`); they are always recomputed. `workers`
    processes score sequences in parallel (the numbers do not depend on how many).
    """
    year = _check_year(year)
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    davis_root, results_dir = Path(davis_root), Path(results_dir)
    if not davis_root.is_dir():
        raise InputError(f"DAVIS {year} root {davis_root} not found")
    if not results_dir.is_dir():
        raise InputError(f"results folder {results_dir} not found")
    sequences = read_sequences(davis_root, split, year)
    for sequence in sequences:  # before any work, and the first missing one in split order
        results_folder(results_dir, sequence)
    func = partial(evaluate_sequence, davis_root=davis_root, results_dir=results_dir, year=year)
    per_sequence: list[list[ObjectScores]] = [[] for _ in sequences]
    progress = tqdm(
        _map(func, sequences, workers, davis_root),
        total=len(sequences),
        desc="evaluate",
        unit="seq",
        disable=None,
    )
    for index, scores in progress:
        per_sequence[index] = scores
    # Split order whatever the order of completion: the output does not depend on `workers`.
    objects = [obj for scores in per_sequence for obj in scores]
    result = EvaluationResult(year=year, split=split, sequences=sequences, objects=objects)
    write_csvs(result, out_dir if out_dir is not None else results_dir)
    return result


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"  # pandas writes NaN as an empty field


def write_csvs(result: EvaluationResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `global_results-<split>.csv` and `per-sequence_results-<split>.csv` as the toolkit."""
    out_dir = Path(out_dir)
    global_path = out_dir / f"global_results-{result.split}.csv"
    per_seq_path = out_dir / f"per-sequence_results-{result.split}.csv"
    try:
        with atomic_path(global_path) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(GLOBAL_COLUMNS)
            writer.writerow([_fmt(v) for v in result.global_metrics().values()])
        with atomic_path(per_seq_path) as tmp, tmp.open("w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(PER_SEQUENCE_COLUMNS)
            for name, j_mean, f_mean in result.per_object_rows():
                writer.writerow([name, _fmt(j_mean), _fmt(f_mean)])
    except OSError as exc:
        raise OutputError(f"cannot write the evaluation CSVs to {out_dir}: {exc}") from exc
    log.info("wrote %s and %s", global_path, per_seq_path)
    return global_path, per_seq_path
