"""End-to-end DAVIS evaluation on tiny datasets in the official layouts."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest
from tests.evaluation.conftest import moving_boxes

from gsfm.errors import InputError
from gsfm.evaluation.davis import evaluate_davis, read_sequences


# --- an independent, deliberately naive reference of the toolkit's definitions -------------
def ref_boundary(seg: np.ndarray) -> set[tuple[int, int]]:
    h, w = seg.shape
    out = set()
    for i in range(h):
        for j in range(w):
            if i == h - 1 and j == w - 1:
                continue
            if i == h - 1:
                neighbours = [seg[i, j + 1]]
            elif j == w - 1:
                neighbours = [seg[i + 1, j]]
            else:
                neighbours = [seg[i, j + 1], seg[i + 1, j], seg[i + 1, j + 1]]
            if any(n != seg[i, j] for n in neighbours):
                out.add((i, j))
    return out


def ref_f(gt: np.ndarray, pred: np.ndarray) -> float:
    radius = math.ceil(0.008 * math.sqrt(gt.shape[0] ** 2 + gt.shape[1] ** 2))
    bg, bp = ref_boundary(gt), ref_boundary(pred)

    def near(p, pts):
        return any((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= radius**2 for q in pts)

    if not bp and not bg:
        precision, recall = 1.0, 1.0
    elif not bp:
        precision, recall = 1.0, 0.0
    elif not bg:
        precision, recall = 0.0, 1.0
    else:
        precision = sum(near(p, bg) for p in bp) / len(bp)
        recall = sum(near(g, bp) for g in bg) / len(bg)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def ref_j(gt: np.ndarray, pred: np.ndarray) -> float:
    union = np.logical_or(gt, pred).sum()
    return 1.0 if union == 0 else np.logical_and(gt, pred).sum() / union


def ref_stats(v: list[float]) -> tuple[float, float, float]:
    n = len(v)
    edges = [round(1 + k * (n - 1) / 4 + 1e-10) - 1 for k in range(5)]
    first, last = v[edges[0] : edges[1] + 1], v[edges[3] : edges[4] + 1]
    decay = sum(first) / len(first) - sum(last) / len(last)
    return sum(v) / n, sum(x > 0.5 for x in v) / n, decay


def ref_evaluate(gt_seqs: dict, res_seqs: dict) -> tuple[list[float], dict[str, tuple]]:
    objects = {}
    for name, gt in gt_seqs.items():
        res = res_seqs[name]
        for k in range(1, int(gt[0].max()) + 1):
            js = [ref_j(g == k, r == k) for g, r in zip(gt[1:-1], res[1:-1])]
            fs = [ref_f(g == k, r == k) for g, r in zip(gt[1:-1], res[1:-1])]
            objects[f"{name}_{k}"] = (ref_stats(js), ref_stats(fs))
    j = np.mean([o[0] for o in objects.values()], axis=0)
    f = np.mean([o[1] for o in objects.values()], axis=0)
    return [(j[0] + f[0]) / 2, *j, *f], objects


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


# --- tests ------------------------------------------------------------------------------------
def test_ground_truth_as_results_scores_one(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    result = evaluate_davis(root, "val", results, 2017)
    g = result.global_metrics()
    assert g["J&F-Mean"] == 1.0 and g["J-Mean"] == 1.0 and g["F-Mean"] == 1.0
    assert g["J-Recall"] == 1.0 and g["J-Decay"] == 0.0
    assert [o.name for o in result.objects] == ["cars_1", "cars_2", "dog_1"]
    assert all(len(o.j) == 4 for o in result.objects)  # 6 frames minus first and last
    rows = read_csv(results / "global_results-val.csv")
    assert rows == [
        ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"],
        ["1.000", "1.000", "1.000", "0.000", "1.000", "1.000", "0.000"],
    ]
    per_seq = read_csv(results / "per-sequence_results-val.csv")
    assert per_seq[0] == ["Sequence", "J-Mean", "F-Mean"]
    assert [r[0] for r in per_seq[1:]] == ["cars_1", "cars_2", "dog_1"]


def test_degraded_results_match_independent_computation(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    res = {name: frames.copy() for name, frames in seqs.items()}
    cars, dog = res["cars"], res["dog"]
    cars[2][cars[2] == 2] = 0  # object 2 lost in frame 2
    obj1 = cars[3] == 1
    cars[3][obj1] = 0
    cars[3][np.roll(obj1, 3, axis=1)] = 1  # object 1 drifts 3 px in frame 3
    dog[4, 6:9, 5:14] = 0  # part of the dog missing in frame 4
    dog[1, 0:4, 0:4] = 1  # a false positive blob in frame 1
    cars[0][:] = 0  # first and last frames are not scored: garbage there changes nothing
    cars[5][:] = 1
    results = tmp_path / "results"
    for name, frames in res.items():
        write_seq(results / name, frames)

    result = evaluate_davis(root, "val", results, 2017, out_dir=tmp_path / "out")
    expected_global, expected_objects = ref_evaluate(seqs, res)

    got = list(result.global_metrics().values())
    assert got == pytest.approx(expected_global, rel=1e-12, abs=1e-12)
    assert got[0] < 1.0
    for obj in result.objects:
        exp_j, exp_f = expected_objects[obj.name]
        assert obj.j_stats == pytest.approx(exp_j, rel=1e-12, abs=1e-12)
        assert obj.f_stats == pytest.approx(exp_f, rel=1e-12, abs=1e-12)
    rows = read_csv(tmp_path / "out" / "global_results-val.csv")
    assert rows[1] == [f"{v:.3f}" for v in expected_global]
    per_seq = read_csv(tmp_path / "out" / "per-sequence_results-val.csv")
    assert per_seq[1:] == [
        [name, f"{j[0]:.3f}", f"{f[0]:.3f}"] for name, (j, f) in expected_objects.items()
    ]


def test_csvs_are_recomputed_not_reused(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    (results / "global_results-val.csv").write_text("stale\n")
    evaluate_davis(root, "val", results, 2017)
    assert read_csv(results / "global_results-val.csv")[1][0] == "1.000"


def test_missing_frame_names_sequence_and_frame(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    (results / "dog" / "00003.png").unlink()
    with pytest.raises(InputError, match=r"'dog'.*'00003'"):
        evaluate_davis(root, "val", results, 2017)
    shutil.rmtree(results / "dog")
    with pytest.raises(InputError, match="'dog'"):
        evaluate_davis(root, "val", results, 2017)


def test_more_predicted_objects_than_ground_truth_is_an_error(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    extra = seqs["dog"].copy()
    extra[2, 0:2, 0:2] = 2
    write_seq(results / "dog", extra)
    with pytest.raises(InputError, match=r"'dog'.*object id 2.*only 1"):
        evaluate_davis(root, "val", results, 2017)


def test_missing_object_is_padded_as_empty(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        out = frames.copy()
        out[out == 2] = 0  # cars_2 never predicted
        write_seq(results / name, out)
    result = evaluate_davis(root, "val", results, 2017)
    scores = {o.name: (o.j_stats[0], o.f_stats[0]) for o in result.objects}
    assert scores == {"cars_1": (1.0, 1.0), "cars_2": (0.0, 0.0), "dog_1": (1.0, 1.0)}
    assert result.global_metrics()["J&F-Mean"] == pytest.approx(2 / 3)


def test_void_label_in_ground_truth_is_background(tmp_path, write_seq):
    root = tmp_path / "DAVIS"
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("bike\n")
    gt = np.zeros((4, 16, 16), np.uint8)
    gt[:, 4:10, 4:10] = 1
    gt[:, 10:12, 4:10] = 255  # void band
    write_seq(root / "Annotations" / "480p" / "bike", gt)
    res = np.where(gt == 255, 0, gt)
    write_seq(tmp_path / "res" / "bike", res)
    result = evaluate_davis(root, "val", tmp_path / "res", 2017)
    assert [o.name for o in result.objects] == ["bike_1"]
    assert result.global_metrics()["J&F-Mean"] == 1.0


@pytest.mark.parametrize("imageset", ["480p", "2016"])
def test_davis2016_layout_binary_masks(tmp_path, write_seq, imageset):
    root = tmp_path / "2016"
    (root / "ImageSets" / imageset).mkdir(parents=True)
    gt = np.zeros((5, 16, 20), np.uint8)
    gt[:, 3:9, 4:12] = 255
    if imageset == "480p":
        lines = [
            f"/JPEGImages/480p/{s}/{t:05d}.jpg /Annotations/480p/{s}/{t:05d}.png"
            for s in ("bear", "swan")
            for t in range(5)
        ]
    else:
        lines = ["bear", "swan"]
    (root / "ImageSets" / imageset / "val.txt").write_text("\n".join(lines) + "\n")
    for s in ("bear", "swan"):
        write_seq(root / "Annotations" / "480p" / s, gt)
    assert read_sequences(root, "val", 2016) == ["bear", "swan"]
    write_seq(tmp_path / "res" / "bear", gt)  # 0/255
    write_seq(tmp_path / "res" / "swan", (gt > 0).astype(np.uint8))  # 0/1
    result = evaluate_davis(root, "val", tmp_path / "res", 2016)
    assert [o.name for o in result.objects] == ["bear_1", "swan_1"]
    assert result.global_metrics()["J&F-Mean"] == 1.0


def test_workers_give_the_same_result(davis2017, tmp_path, write_seq):
    root, seqs = davis2017
    # A third, longer sequence listed last: scheduled first (longest first), yet reported last.
    seqs["zebra"] = moving_boxes(11, (22, 30), [(1, 2, 3), (2, 12, 1), (3, 5, 14)])
    write_seq(root / "Annotations" / "480p" / "zebra", seqs["zebra"])
    (root / "ImageSets" / "2017" / "val.txt").write_text("cars\ndog\nzebra\n")
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, np.roll(frames, 1, axis=2))
    one = evaluate_davis(root, "val", results, 2017, workers=1, out_dir=tmp_path / "one")
    two = evaluate_davis(root, "val", results, 2017, workers=2, out_dir=tmp_path / "two")
    assert [o.name for o in two.objects] == [o.name for o in one.objects]
    assert [o.name for o in one.objects][-3:] == ["zebra_1", "zebra_2", "zebra_3"]
    for a, b in zip(one.objects, two.objects):
        np.testing.assert_array_equal(a.j, b.j)
        np.testing.assert_array_equal(a.f, b.f)
    assert one.global_metrics() == two.global_metrics()
    assert 0 < one.global_metrics()["J&F-Mean"] < 1
    for name in ("global_results-val.csv", "per-sequence_results-val.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    with pytest.raises(InputError, match="workers"):
        evaluate_davis(root, "val", results, 2017, workers=0)


def test_first_missing_results_folder_in_split_order_is_reported(davis2017, tmp_path):
    root, _ = davis2017
    (tmp_path / "results" / "dog").mkdir(parents=True)
    with pytest.raises(InputError, match="'cars'"):
        evaluate_davis(root, "val", tmp_path / "results", 2017, workers=2)


def test_missing_split_or_root_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        evaluate_davis(tmp_path / "nope", "val", tmp_path, 2017)
    with pytest.raises(InputError, match=r"ImageSets.*2017.*val\.txt"):
        evaluate_davis(tmp_path, "val", tmp_path, 2017)
