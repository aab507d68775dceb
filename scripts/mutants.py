"""Mutant check: plant known bugs one at a time in a copy of the repository and run the tests
that should catch them. A mutant that leaves its tests green ("survived") marks a missing test.

    python scripts/mutants.py                 # every mutant (default tests only), ~10 min
    python scripts/mutants.py --only hfm_keeps_low_frequencies segment_ignores_memory_cap
    python scripts/mutants.py --slow          # also the mutants only slow tests can catch
    python scripts/mutants.py --list

Each mutant is a list of exact source edits (file, old snippet, new snippet). A snippet that is
not found exactly once means the code moved on: the mutant is reported "not applicable" (update
its snippet) rather than silently skipped. The copy lives in a temporary folder; the working
tree is never touched. A baseline run of every selected test on the unmutated copy comes first
(`--no-baseline` skips it), so that a test failing anyway cannot pass for a kill.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "pyproject.toml")
log = logging.getLogger("mutants")

GOLDEN = "tests/model/test_golden.py"
ACCURACY = "tests/inference/test_accuracy.py"
LOSS = "tests/train/test_loss_formulas.py"
PLUMBING = "tests/cli/test_plumbing.py"
SERVE_MISUSE = "tests/serve/test_misuse.py"
READOUT = "tests/model/test_readout.py"
PRECISION_AUTO = "tests/inference/test_precision_auto.py"


@dataclass(frozen=True)
class Mutant:
    """A named bug: edits [(file, old, new)], the tests meant to catch it, and whether only
    slow tests can."""

    name: str
    edits: tuple[tuple[str, str, str], ...]
    tests: tuple[str, ...]
    slow: bool = False
    issue_table: bool = False  # one of the rows of issue 19's table


def _m(name: str, path: str, old: str, new: str, *tests: str, **kw: bool) -> Mutant:
    return Mutant(name, ((path, old, new),), tests, **kw)


NET = "src/gsfm/model/network.py"
FIRST_MASK = "src/gsfm/first_mask.py"
DATASETS = "src/gsfm/data/datasets.py"
MUTANTS: list[Mutant] = [
    # ---- issue 19's table
    _m("hfm_keeps_low_frequencies", NET,
       'self.hfm = SpectralFilter(c4, keep="high"', 'self.hfm = SpectralFilter(c4, keep="low"',
       GOLDEN, ACCURACY, issue_table=True),
    Mutant(
        "value_encoder_others_before_own_mask",
        ((NET, "parts = [frames, masks.unsqueeze(2)]", "parts = [frames]"),
         (NET, "parts.append(others.unsqueeze(2))",
          "parts += [others.unsqueeze(2), masks.unsqueeze(2)]")),
        (GOLDEN, ACCURACY), issue_table=True,
    ),
    _m("engine_ignores_top_k", "src/gsfm/inference/engine.py",
       "cohorts, self.config.top_k, self._workspace",
       "cohorts, None, self._workspace",
       GOLDEN, issue_table=True),
    _m("soft_aggregation_returns_log_p", "src/gsfm/model/aggregate.py",
       "return torch.log(p / (1 - p))", "return torch.log(p)",
       GOLDEN, issue_table=True),
    _m("evaluation_swaps_j_and_f", "src/gsfm/evaluation/metrics.py",
       "    return j, f\n", "    return f, j\n",
       "tests/evaluation", issue_table=True),
    _m("boundary_loss_weight_x10", "src/gsfm/train/config.py",
       "boundary_weight: float = 0.05", "boundary_weight: float = 0.5",
       LOSS, issue_table=True),
    _m("boundary_loss_weight_x10_in_the_loss", "src/gsfm/train/losses.py",
       "boundary_weight: float = 0.05", "boundary_weight: float = 0.5",
       LOSS, issue_table=True),
    Mutant(
        "training_memory_reads_previous_frame_only",
        (("src/gsfm/train/sequence.py", "mem_key = keys[:, :i]", "mem_key = keys[:, i - 1 : i]"),
         ("src/gsfm/train/sequence.py", "torch.stack(mem_values, dim=3)",
          "torch.stack(mem_values[-1:], dim=3)")),
        (LOSS, GOLDEN), issue_table=True,
    ),
    _m("segment_ignores_memory_cap", "src/gsfm/cli/segment.py",
       "engine_config(args, **options)",
       'engine_config(args, **{**options, "max_memory_frames": None})',
       PLUMBING, issue_table=True),
    _m("serve_ignores_memory_cap", "src/gsfm/serve/app.py",
       "engine = config.engine.with_options(**run_settings(config, frames))",
       "engine = config.engine", "tests/serve/test_api.py"),
    _m("serve_exports_share_a_work_folder", "src/gsfm/serve/app.py",
       'work = Path(tempfile.mkdtemp(prefix=".export-", dir=session.folder))',
       'work = session.folder / ".export"\n        work.mkdir(exist_ok=True)', SERVE_MISUSE),
    _m("serve_answers_127_0_0_1_only", "src/gsfm/serve/hosts.py",
       "return ipaddress.ip_address(host).is_loopback", 'return host == "127.0.0.1"',
       SERVE_MISUSE),
    _m("serve_disk_check_forgets_running_decodes", "src/gsfm/serve/sessions.py",
       "check_room(self.base, need, limit, sum(self.reserved.values()), what)",
       "check_room(self.base, need, limit, 0, what)", SERVE_MISUSE),
    _m("serve_works_on_a_failed_decode", "src/gsfm/serve/sessions.py",
       'if job.kind == "decode" and job.state in ("failed", "cancelled"):', "if False:",
       SERVE_MISUSE),
    _m("serve_lzma_error_is_a_500", "src/gsfm/serve/media.py",
       "zlib.error,\n        lzma.LZMAError,", "zlib.error,", SERVE_MISUSE),
    # ---- issue 27: long videos
    _m("long_term_keeps_least_used", "src/gsfm/inference/longterm.py",
       "chosen = torch.topk(score, k=count * hw).indices",
       "chosen = torch.topk(-score, k=count * hw).indices", "tests/inference/test_longterm.py"),
    _m("presence_never_returns", "src/gsfm/inference/presence.py",
       "state.present = back and familiar", "state.present = False",
       "tests/inference/test_presence.py"),
    _m("presence_ignores_a_spread_region", "src/gsfm/inference/presence.py",
       "if (far and enough) or spread:", "if far and enough:",
       "tests/inference/test_presence.py"),
    _m("presence_keeps_absent_objects", "src/gsfm/inference/presence.py",
       "        if all(keep):\n            return probs", "        return probs",
       "tests/inference/test_long_videos.py", slow=True),
    _m("returned_after_any_gap", "src/gsfm/evaluation/parts.py",
       "returned = returned or run >= min_gap", "returned = returned or run >= 1",
       "tests/evaluation/test_parts.py"),
    _m("boundary_loss_removed_from_total", "src/gsfm/train/losses.py",
       "total = total + ce + self.boundary_weight * bl", "total = total + ce",
       LOSS, issue_table=True),
    # ---- more
    _m("lfm_keeps_high_frequencies", NET,
       'self.lfm = SpectralFilter(c16, keep="low"', 'self.lfm = SpectralFilter(c16, keep="high"',
       GOLDEN),
    _m("spectral_filter_drops_its_residual", "src/gsfm/model/spectral.py",
       "return x + out.to(x.dtype)", "return out.to(x.dtype)", GOLDEN),
    _m("training_affinity_sign", NET, "(2 * ab - a_sq)", "(2 * ab + a_sq)", GOLDEN),
    _m("engine_affinity_sign", "src/gsfm/model/readout.py",
       "qk.new_full((*qk.shape[:2], 1), -1.0)", "qk.new_full((*qk.shape[:2], 1), 1.0)", GOLDEN),
    _m("engine_affinity_unscaled", "src/gsfm/model/readout.py",
       "temperature = math.sqrt(mk.shape[1] - 1)", "temperature = 1.0", READOUT),
    # ---- issue 28 (speed): the exact shortcuts and the per-stage precision
    _m("block_top_k_contiguous_blocks", "src/gsfm/model/readout.py",
       "candidates = (chosen.unsqueeze(-1) + offsets).flatten(-2)",
       "candidates = (chosen.unsqueeze(-1) * c + offsets // blocks).flatten(-2)", READOUT),
    _m("block_top_k_drops_the_tail", "src/gsfm/model/readout.py",
       "    if m > blocks * c:\n", "    if False:\n", READOUT),
    _m("memory_keys_without_norms", "src/gsfm/inference/memory.py",
       "self._keys[:, -1, slot] = squared_norms(key)", "self._keys[:, -1, slot] = 0.0",
       "tests/inference/test_exact_mode.py"),
    _m("labels_last_channel_on_ties", "src/gsfm/inference/engine.py",
       "better = prob[channel] > best", "better = prob[channel] >= best", PRECISION_AUTO),
    _m("auto_keeps_the_memory_in_bf16", "src/gsfm/inference/engine.py",
       "features.key.float(), values.float(), t", "features.key, values, t", PRECISION_AUTO),
    _m("auto_assumes_native_bf16", "src/gsfm/inference/device.py",
       "return bool((cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS)",
       "return True", PRECISION_AUTO),
    _m("write_behind_loses_errors", "src/gsfm/background.py",
       "            self._pending.popleft().result()\n        self._pending.append",
       "            self._pending.popleft()\n        self._pending.append",
       "tests/test_background.py"),
    _m("soft_aggregation_background_as_one_minus_sum", "src/gsfm/model/aggregate.py",
       "torch.prod(1 - prob, dim=1, keepdim=True)", "1 - prob.sum(dim=1, keepdim=True)",
       GOLDEN),
    _m("padding_all_at_the_end", "src/gsfm/model/image.py",
       "pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)", "pads = (0, pw, 0, ph)",
       GOLDEN),
    _m("training_memory_from_ground_truth", "src/gsfm/train/sequence.py",
       "f16[:, i], prob.to(frames.dtype))", "f16[:, i], masks[:, i] * sel)", LOSS, GOLDEN),
    _m("laplacian_centre_4", "src/gsfm/train/losses.py",
       "(-1.0, 8.0, -1.0)", "(-1.0, 4.0, -1.0)", LOSS),
    _m("engine_writes_memory_every_frame", "src/gsfm/inference/engine.py",
       "t - self._last_write >= cfg.mem_every", "t - self._last_write >= 1", PLUMBING),
    _m("youtube2018_zip_without_annotations_folder", DATASETS,
       'zip_prefix="Annotations",', 'zip_prefix="",', PLUMBING),
    _m("davis2016_top_k_50", DATASETS, "top_k=20,", "top_k=50,", PLUMBING),
    _m("davis2016_mem_every_5", DATASETS, "top_k=20,", "top_k=20,\n            mem_every=5,",
       PLUMBING),
    _m("bootstrapped_ce_keeps_30_percent", "src/gsfm/train/config.py",
       "top_p: float = 0.15", "top_p: float = 0.3", LOSS),
    _m("ranks_read_overlapping_samples", "src/gsfm/train/sampling.py",
       "(iteration * self.world_size + self.rank) * self.batch_size",
       "(iteration + self.rank) * self.batch_size",
       "tests/train/test_ddp_equivalence.py", slow=True),
    # ---- issue 25 (reliability II): bugs no test caught
    _m("video_frame_count_from_the_header", "src/gsfm/data/video.py",
       "self.count = self._count(announced)", "self.count = announced or self._count(announced)",
       "tests/data/test_video.py"),
    _m("number_accepts_nan", "src/gsfm/arguments.py",
       "if not math.isfinite(value):", "if False:", "tests/cli/test_numbers.py"),
    _m("segment_outputs_may_overlap", "src/gsfm/cli/segment.py",
       "    check_distinct(outputs)\n", "", "tests/cli/test_segment_misuse.py"),
    _m("infer_out_among_the_video_folders", "src/gsfm/cli/infer.py",
       "folders.add(p.parent.parent)", "pass", "tests/cli/test_infer_generic.py"),
    _m("resume_ignores_the_weights_content", "src/gsfm/cli/infer.py",
       '"weights_sha256": weights_digest(args),', '"weights_sha256": None,',
       "tests/cli/test_infer_misuse.py"),
    _m("onnx_graph_file_outside_the_folder", "src/gsfm/export/manifest.py",
       "(inside / file).resolve().parent != inside", "False", "tests/export/test_manifest.py"),
    _m("evaluate_reads_float_pixels_as_ids", "src/gsfm/data/masks.py",
       'if labels.dtype.kind not in "biu":', "if False:", "tests/evaluation/test_eval_cli.py"),
    _m("training_group_destroyed_without_a_barrier", "src/gsfm/train/distributed.py",
       "        if finished:\n            dist.barrier()\n", "", "tests/train/test_teardown.py"),
    # ---- issue 26: first masks from boxes
    _m("first_mask_modifies_the_callers_previous_mask", FIRST_MASK,
       "    if mask.shape == size:\n        return mask.copy()",
       "    if mask.shape == size:\n        return mask",
       "tests/test_first_mask.py"),
    _m("first_mask_background_stroke_does_not_spread", FIRST_MASK,
       "start &= ~(spread if spread.sum() <= most else seeds)", "start &= ~seeds",
       "tests/test_first_mask.py"),
    _m("first_mask_spread_without_the_colour_test", FIRST_MASK,
       "near &= to_stroke < _distance(pixels, cluster, config.grow_floor)", "pass",
       "tests/test_first_mask.py"),
    _m("first_mask_overlaps_go_to_the_larger_object", FIRST_MASK,
       "key=lambda m: -int(m[1].sum())", "key=lambda m: int(m[1].sum())",
       "tests/test_first_mask.py"),
    _m("first_mask_fills_no_hole", FIRST_MASK,
       "small = ~edge & (area < config.hole_fraction * kept.sum())", "small = ~edge & (area < 0)",
       "tests/test_first_mask.py"),
    _m("simulated_user_clicks_the_smallest_wrong_region", "src/gsfm/bench/first_mask.py",
       "np.argmax(stats[1:, cv2.CC_STAT_AREA])", "np.argmin(stats[1:, cv2.CC_STAT_AREA])",
       "tests/test_first_mask.py"),
    _m("segment_box_ids_in_reverse_order", "src/gsfm/cli/segment.py",
       "zip(frames, args.boxes, free)", "zip(frames, args.boxes, free[len(args.boxes) - 1 :: -1])",
       "tests/cli/test_segment_box.py"),
    _m("serve_strokes_earlier_wins", "src/gsfm/serve/boxes.py",
       "        other &= ~mark\n", "\n",
       "tests/serve/test_first_mask_api.py"),
]  # fmt: skip


def copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


def apply(copy: Path, mutant: Mutant) -> dict[Path, str] | str:
    """Apply the edits; returns the original texts, or why the mutant does not apply."""
    originals: dict[Path, str] = {}
    for rel, old, new in mutant.edits:
        path = copy / rel
        text = originals.get(path) or (path.read_text() if path.is_file() else None)
        if text is None:
            restore(originals)
            return f"{rel} not found"
        current = path.read_text()
        count = current.count(old)
        if count != 1:
            restore(originals)
            return f"snippet found {count} times in {rel}: {old!r}"
        originals.setdefault(path, text)
        path.write_text(current.replace(old, new))
    return originals


def restore(originals: dict[Path, str]) -> None:
    for path, text in originals.items():
        path.write_text(text)


def run_tests(
    copy: Path, tests: tuple[str, ...], slow: bool, timeout: int, stop: bool = True
) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(copy / "src") + os.pathsep + str(copy))
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"]
    cmd += ["-x"] if stop else []
    cmd += ["-m", "slow" if slow else "not slow", *tests]
    try:
        done = subprocess.run(
            cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return -1, "timeout"
    return done.returncode, done.stdout + done.stderr


def failures(output: str) -> str:
    """The failing tests' ids (file::name), comma-separated."""
    found = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    if found:
        return ", ".join(found)
    return output.strip().splitlines()[-1] if output.strip() else "?"


def main() -> int:
    parser = argparse.ArgumentParser(description="plant known bugs and check the tests see them")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these mutants only")
    parser.add_argument("--slow", action="store_true", help="also mutants needing slow tests")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per test run")
    parser.add_argument(
        "--all-failures",
        action="store_true",
        help="run every listed test per mutant (not -x) and name all that fail",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    selected = [m for m in MUTANTS if (args.slow or not m.slow)]
    if args.only:
        unknown = set(args.only) - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
        selected = [m for m in MUTANTS if m.name in args.only]
    if args.list:
        for m in MUTANTS:
            tag = " [issue table]" * m.issue_table + " [slow]" * m.slow
            log.info("%-46s %s%s", m.name, " ".join(m.tests), tag)
        return 0

    with tempfile.TemporaryDirectory(prefix="gsfm-mutants-") as tmp:
        copy = Path(tmp)
        copy_repo(copy)
        if not args.no_baseline:
            for slow in sorted({m.slow for m in selected}):
                tests = tuple(sorted({t for m in selected if m.slow == slow for t in m.tests}))
                code, output = run_tests(copy, tests, slow, args.timeout)
                if code != 0:
                    log.error("baseline fails before any mutation (%s):\n%s", code, output[-3000:])
                    return 1
            log.info("baseline: the selected tests pass on the unmutated copy")
        rows = []
        for mutant in selected:
            start = time.perf_counter()
            applied = apply(copy, mutant)
            if isinstance(applied, str):
                rows.append((mutant, "not applicable", applied))
            else:
                try:
                    code, output = run_tests(
                        copy, mutant.tests, mutant.slow, args.timeout, not args.all_failures
                    )
                finally:
                    restore(applied)
                if code == 0:
                    rows.append((mutant, "SURVIVED", "every test passed"))
                elif code in (1, -1):
                    rows.append((mutant, "killed", failures(output)))
                else:
                    rows.append((mutant, f"error (pytest exit {code})", failures(output)))
            log.info(
                "%-46s %-15s %s (%.0f s)", mutant.name, rows[-1][1], rows[-1][2],
                time.perf_counter() - start,
            )  # fmt: skip
    survived = [m.name for m, status, _ in rows if status != "killed"]
    log.info(
        "\n%d mutants: %d killed, %d not killed%s",
        len(rows), len(rows) - len(survived), len(survived),
        f" ({', '.join(survived)})" if survived else "",
    )  # fmt: skip
    return 1 if any(status == "SURVIVED" for _, status, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
