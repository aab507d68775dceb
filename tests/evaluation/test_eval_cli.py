"""`gsfm evaluate` end to end: exit codes, written files, printed table, one-line errors."""

from __future__ import annotations

from pathlib import Path

from gsfm.cli import main


def test_cli_writes_csvs_chart_and_prints_table(davis2017, tmp_path, write_seq, capsys):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    argv = ["evaluate", "--dataset", "davis2017", "--split", "val", "--results", str(results)]
    assert main([*argv, "--root", str(root)]) == 0
    for name in (
        "global_results-val.csv",
        "per-sequence_results-val.csv",
        "per-sequence_results-val.png",
    ):
        assert (results / name).is_file(), name
    assert (results / "per-sequence_results-val.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out
    assert "Global results for val" in out and "J&F-Mean" in out and "cars_2" in out

    out_dir = tmp_path / "elsewhere"
    assert main([*argv, "--root", str(root), "--out", str(out_dir), "--workers", "2"]) == 0
    assert (out_dir / "global_results-val.csv").is_file()
    assert (out_dir / "per-sequence_results-val.png").is_file()


def test_cli_errors_are_one_line(davis2017, tmp_path, capsys):
    root, _ = davis2017
    argv = ["evaluate", "--dataset", "davis2017", "--results", str(tmp_path)]
    assert main([*argv, "--root", str(root)]) == 2  # no results for 'cars'
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsfm evaluate: error:") and "cars" in err and "\n" not in err

    assert main([*argv, "--split", "test-dev", "--root", str(root)]) == 2
    assert "no public ground truth" in capsys.readouterr().err

    assert main([*argv, "--root", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err


def test_cli_workers_do_not_change_a_digit(davis2017, tmp_path, write_seq, capsys, monkeypatch):
    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames[:, ::-1])  # flipped: scores well below 1
    argv = ["evaluate", "--dataset", "davis2017", "--root", str(root), "--results", str(results)]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "w1")]) == 0
    one = capsys.readouterr().out
    assert main([*argv, "--workers", "2", "--out", str(tmp_path / "w2")]) == 0
    assert capsys.readouterr().out == one and "1.000000" not in one.splitlines()[2]
    for name in ("global_results-val.csv", "per-sequence_results-val.csv"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()

    # Without --workers: the cores this process may use.
    import gsfm.cli.evaluate as evaluate_cli
    import gsfm.evaluation.davis

    seen = []
    real = evaluate_cli.evaluate_davis
    monkeypatch.setattr(gsfm.evaluation.davis, "usable_cores", lambda: 3)
    monkeypatch.setattr(
        evaluate_cli,
        "evaluate_davis",
        lambda *a, **kw: seen.append(kw["workers"]) or real(*a, **{**kw, "workers": 1}),
    )
    assert main([*argv, "--out", str(tmp_path / "default")]) == 0
    assert seen == [3]
    assert main([*argv, "--workers", "0"]) == 2
    assert "--workers: must be at least 1" in capsys.readouterr().err


def test_without_the_plots_extra_the_scores_come_without_a_chart(
    davis2017, tmp_path, write_seq, capsys, monkeypatch
):
    import gsfm.cli.evaluate as evaluate_cli

    root, seqs = davis2017
    results = tmp_path / "results"
    for name, frames in seqs.items():
        write_seq(results / name, frames)
    monkeypatch.setattr(evaluate_cli, "missing", lambda extra: ["matplotlib"])
    argv = ["evaluate", "--dataset", "davis2017", "--results", str(results), "--root", str(root)]
    assert main(argv) == 0
    assert (results / "global_results-val.csv").is_file()
    assert not (results / "per-sequence_results-val.png").exists()
    assert "J&F-Mean" in capsys.readouterr().out


def test_results_that_are_not_8bit_ids_are_one_line_naming_the_file(
    davis2017, tmp_path, write_seq, capsys
):
    """Issue 25 case 17: a float result (mode F) used to end in a traceback; 16-bit results
    are read by their values when they are ids (0..255), else refused naming the file."""
    import numpy as np
    from PIL import Image

    root, seqs = davis2017
    argv = ["evaluate", "--dataset", "davis2017", "--root", str(root), "--workers", "1"]

    def results(name: str, image: Image.Image, **save) -> tuple[Path, Path]:
        folder = tmp_path / name
        for seq, frames in seqs.items():
            write_seq(folder / seq, frames)
        bad = folder / "cars" / "00002.png"
        image.save(bad, **save)
        return folder, bad

    labels = seqs["cars"][2]
    floats, bad = results("f", Image.fromarray(labels.astype(np.float32), mode="F"), format="TIFF")
    assert main([*argv, "--results", str(floats)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gsfm evaluate: error: ") and "\n" not in err, err
    assert str(bad) in err and "float32 pixels (mode F)" in err

    wide, bad = results("wide", Image.fromarray((labels > 0).astype(np.uint16) * 65535))
    assert main([*argv, "--results", str(wide)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(bad) in err and "values 0..65535, not object ids" in err

    ids16, _ = results("ids16", Image.fromarray(labels.astype(np.uint16)))
    assert main([*argv, "--results", str(ids16)]) == 0  # 16-bit ids: the 8-bit scores
    assert "cars_2 1.000000 1.000000" in capsys.readouterr().out
