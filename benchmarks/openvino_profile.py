"""Where an OpenVINO model's time goes: OpenVINO's own per-node counters, summed by operator type and by
the precision each node ran in, and the share of `predict` spent outside the graph.

    python benchmarks/openvino_profile.py model.xml [more.xml ...] [--threads 2] [--runs 3] [--top 12]
                                          [--dynamic] [--plain-roi-align] [--dry-run]

For each model (an export of `gnrcnn export --format openvino`, fp32 or `--int8`): the bundled photo
(resized to the config's scale), batch 1, compiled for latency with `PERF_COUNT` on, two warm-ups (the
second compiles the model for this input size, as `predict` does for a size that recurs; `--dynamic`
keeps the model compiled for any size; `--plain-roi-align` runs RoIAlign on the channels-first maps
as exported, without the detector's channels-last copies), then --runs runs. Printed per model: the median time of the
whole `predict` call, of the graph alone (`infer`), and the rest (resize and normalise before, mask
pasting and the records after, in Python); then the top operator types by the graph's own counters
(median over the runs), with the precision their kernels ran in (`exec_type`, e.g.
`jit_avx512_amx_I8`, `brgconv_avx512_FP32`).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict

from gnrcnn import keep_freed_memory
from gnrcnn.data.image_io import bundled_photo, read_image
from gnrcnn.predict.openvino_detector import OpenVinoDetector
from gnrcnn.tools import harness


def precision_of(exec_type: str) -> str:
    """The precision in a kernel name (``..._I8``, ``..._FP32``, ``..._BF16``), or the name itself."""
    tail = exec_type.rsplit("_", 1)[-1].upper()
    return tail if tail in ("I8", "U8", "F32", "FP32", "BF16", "F16", "FP16", "I32", "I64") else exec_type


def profile(
    path: str, threads: int, runs: int, static: bool, channels_last: bool = True
) -> tuple[dict[str, float], dict[tuple[str, str], list[float]]]:
    det = OpenVinoDetector(
        path, threads=threads, static_shapes=static, properties={"PERF_COUNT": True},
        channels_last_roi_align=channels_last,
    )  # fmt: skip
    graph: list[float] = []
    run_graph = det.run_graph

    def graph_only(batch, sizes):  # the graph call alone, as predict makes it
        seconds, out = harness.timed(lambda: run_graph(batch, sizes))
        graph.append(seconds)
        return out

    det.run_graph = graph_only
    image = read_image(bundled_photo())
    det.predict(image)  # warm-up
    det.predict(image)  # the second call at this size compiles its static model (unless --dynamic)
    graph.clear()
    totals, by_type = [], defaultdict(list)
    for _ in range(runs):
        totals.append(harness.timed(lambda: det.predict(image))[0])
        summed: dict[tuple[str, str], float] = defaultdict(float)
        for info in det.last_request.get_profiling_info():
            if info.status.name == "EXECUTED":
                summed[(info.node_type, precision_of(info.exec_type))] += info.real_time.total_seconds()
        for key, seconds in summed.items():
            by_type[key].append(seconds)
    times = {"predict": statistics.median(totals), "graph": statistics.median(graph)}
    return times, by_type


def dry_model() -> str:
    """The tiny config, random weights, exported to OpenVINO in a temporary folder."""
    import torch

    from gnrcnn import load_model
    from gnrcnn.export.openvino import export_openvino

    torch.manual_seed(0)  # torch seeds itself at random: the same random weights every run, so that the
    det = load_model(harness.DRY_CONFIG, weights="none", overrides=harness.DRY_OVERRIDES)  # export check is too
    path = harness.scratch_folder() + "/model.xml"
    export_openvino(det.cfg, det.model, path)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--dynamic", action="store_true", help="the model compiled for any size (no static-shape model)")
    ap.add_argument("--plain-roi-align", action="store_true", help="RoIAlign on the channels-first maps as exported")
    harness.add_dry_run(ap)
    args = ap.parse_args(argv)
    if args.dry_run:
        args.models, args.runs = [dry_model()], 1
    elif not args.models:
        ap.error("give one or more OpenVINO model.xml files")
    keep_freed_memory()
    for path in args.models:
        times, by_type = profile(path, args.threads, args.runs, not args.dynamic, not args.plain_roi_align)
        counted = {k: statistics.median(v) for k, v in by_type.items()}
        total = sum(counted.values())
        rest = times["predict"] - times["graph"]
        print(
            f"\n{path}: predict {times['predict']:.2f} s = graph {times['graph']:.2f} s + outside the graph "
            f"{rest:.2f} s ({100 * rest / times['predict']:.0f}%); the graph's counters sum to {total:.2f} s"
        )
        print("| operator | precision | ms | share of the graph |\n|---|---|---|---|")
        for (node, prec), seconds in sorted(counted.items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"| {node} | {prec} | {1e3 * seconds:.0f} | {100 * seconds / total:.1f}% |")
        per_precision: dict[str, float] = defaultdict(float)
        for (_, prec), seconds in counted.items():
            per_precision[prec] += seconds
        print("by precision: " + ", ".join(f"{p} {100 * s / total:.0f}%" for p, s in
                                          sorted(per_precision.items(), key=lambda kv: -kv[1])))  # fmt: skip


if __name__ == "__main__":
    main()
