"""Benchmark: building the similarity index with tshub against tslearn on the same inputs, dataset by dataset.

Both sides get the same z-normalised training series and compute the same things: per class the medoid (smallest
sum of squared DTW distances), DBA from it for 10 iterations (tslearn: ``dtw_barycenter_averaging(X,
init_barycenter=medoid, max_iter=10, tol=0)``), prototypes rounded to float32 as the index stores them, then the
bigdata18 dataset distances (min DTW over prototype pairs; tslearn: ``cdist_dtw`` over all prototypes, from the
same float32 prototypes). Times are CPU seconds of this process, tshub on one numba thread, tslearn on one.

The prototype stage runs per dataset, cheapest first, and saves each result in ``--work`` as it goes, so a killed
run resumes. tslearn runs on every dataset whose plain build costs at most ``--tslearn-max-cells`` DTW cells
(default: all); above it only tshub runs and tslearn's time is *estimated* from its CPU time per cell measured on
the others (the report says which is which). The distance stage then runs once over every dataset, on both sides.

    .venv/bin/python bench/similarity_index.py                      # 15 representative sets, a few minutes
    .venv/bin/python bench/similarity_index.py --all --tslearn-max-cells 2e10   # the archive, tslearn on most sets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tshub.data.catalogue import list_datasets, load
from tshub.similarity import SimilarityIndex, set_threads
from tshub.similarity.averaging import medoid_index
from tshub.similarity.index import split_series

RESULTS = Path(__file__).resolve().parent / "results"
# small to mid-sized sets of several kinds: many classes (SwedishLeaf, FiftyWords), long series (Beef, Lightning7),
# a big class (Wafer, ECG5000), variable lengths (GesturePebbleZ1), missing values (DodgerLoopDay)
DEFAULT = [
    "GunPoint",
    "ECG200",
    "Coffee",
    "Beef",
    "Lightning7",
    "FaceFour",
    "SwedishLeaf",
    "FiftyWords",
    "Strawberry",
    "ECG5000",
    "Wafer",
    "GesturePebbleZ1",
    "DodgerLoopDay",
    "DistalPhalanxOutlineAgeGroup",
    "MiddlePhalanxOutlineAgeGroup",
]
N_ITERATIONS = 10


def training_set(name: str, index: SimilarityIndex) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(raw training series, the same as the index prepares them (t, c), labels)."""
    X, y = split_series(load(name))
    labels = np.zeros(len(X), np.int64) if y is None else np.asarray(y)
    return list(X), index.preprocess(X), labels


def prototype_cells(series: list[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """DTW cells of a plain prototype build: full medoid matrices (n(n-1)/2 pairs per class) and DBA."""
    medoid = dba = 0.0
    for label in np.unique(labels):
        lengths = np.array([len(s) for s, lab in zip(series, labels) if lab == label], dtype=np.float64)
        medoid += (lengths.sum() ** 2 - (lengths**2).sum()) / 2
        dba += N_ITERATIONS * lengths.sum() * lengths.mean()
    return {"medoid": medoid, "dba": dba}


def clock(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def class_members(series: list[np.ndarray], labels: np.ndarray, classes: list[str]) -> list[list[np.ndarray]]:
    return [[s for s, lab in zip(series, labels.tolist()) if str(lab) == c] for c in classes]


def tslearn_prototypes(groups: list[list[np.ndarray]]) -> tuple[list[np.ndarray], list[int]]:
    """tslearn's medoid (from ``cdist_dtw``) and DBA per class: float32 (c, t) prototypes and medoid positions."""
    from tslearn.barycenters import dtw_barycenter_averaging
    from tslearn.metrics import cdist_dtw

    protos, medoids = [], []
    for members in groups:
        D = cdist_dtw(members)
        m = int(np.argmin((D**2).sum(axis=1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            avg = dtw_barycenter_averaging(members, init_barycenter=members[m], max_iter=N_ITERATIONS, tol=0)
        protos.append(avg.T.astype(np.float32))
        medoids.append(m)
    return protos, medoids


def measure_dataset(name: str, work: Path, max_cells: float) -> dict[str, Any]:
    """Prototypes of one dataset by tshub (and tslearn when affordable); cached in ``work``."""
    record_file, proto_file = work / f"{name}.json", work / f"{name}.npz"
    if record_file.is_file() and proto_file.is_file():
        record = json.loads(record_file.read_text())
        if record["tslearn"] is not None or sum(record["cells"].values()) > max_cells:
            return record  # else: measured under a lower cell limit, measure again
    index = SimilarityIndex(n_iterations=N_ITERATIONS)
    raw, series, labels = training_set(name, index)
    cells = prototype_cells(series, labels)
    (classes, ours), wall, cpu = clock(lambda: index.make_prototypes(raw, labels))
    record: dict[str, Any] = {
        "name": name,
        "n_series": len(raw),
        "n_classes": len(classes),
        "length": int(max(len(s) for s in series)),
        "channels": int(series[0].shape[1]),
        "cells": cells,
        "tshub": {"wall_s": wall, "cpu_s": cpu},
        "tslearn": None,
    }
    if sum(cells.values()) <= max_cells:
        groups = class_members(series, labels, classes)
        (theirs, medoids), wall, cpu = clock(lambda: tslearn_prototypes(groups))
        record["tslearn"] = {"wall_s": wall, "cpu_s": cpu}
        record["medoids_equal"] = [int(medoid_index([s.T for s in g]) == t) for g, t in zip(groups, medoids)]
        record["max_rel_diff_prototypes"] = max(
            float(np.abs(p - q).max() / np.abs(q).max()) for p, q in zip(ours, theirs)
        )
    np.savez(proto_file, classes=np.array(classes), **{f"p{i}": p for i, p in enumerate(ours)})
    record_file.write_text(json.dumps(record, indent=1))
    return record


def load_prototypes(name: str, work: Path) -> tuple[list[str], list[np.ndarray]]:
    with np.load(work / f"{name}.npz", allow_pickle=False) as f:
        classes = [str(c) for c in f["classes"]]
        return classes, [f[f"p{i}"] for i in range(len(classes))]


def measure_distances(names: list[str], work: Path) -> dict[str, Any]:
    """The dataset distance matrix from the saved prototypes: tshub's incremental ``add`` vs ``cdist_dtw``."""
    from tslearn.metrics import cdist_dtw

    protos = {name: load_prototypes(name, work) for name in names}
    index = SimilarityIndex(n_iterations=N_ITERATIONS)

    def ours():
        for name, (classes, p) in protos.items():
            index.add(name, prototypes=p, classes=classes)
        return index.distances

    def theirs():
        flat = [(i, p.T.astype(np.float64)) for i, name in enumerate(names) for p in protos[name][1]]
        owner = np.array([i for i, _ in flat])
        D = cdist_dtw([p for _, p in flat])
        out = np.full((len(names), len(names)), np.inf)
        channels = [protos[name][1][0].shape[0] for name in names]
        for a in range(len(names)):
            out[a, a] = 0.0
            for b in range(a + 1, len(names)):
                if channels[a] == channels[b]:
                    out[a, b] = out[b, a] = D[np.ix_(owner == a, owner == b)].min()
        return out

    dist_ours, w1, c1 = clock(ours)
    dist_theirs, w2, c2 = clock(theirs)
    finite = np.isfinite(dist_theirs) & ~np.eye(len(names), dtype=bool)
    rel = float((np.abs(dist_ours - dist_theirs)[finite] / dist_theirs[finite]).max()) if finite.any() else 0.0
    n_protos = sum(len(p) for _, p in protos.values())
    return {
        "n_prototypes": n_protos,
        "tshub": {"wall_s": w1, "cpu_s": c1},
        "tslearn": {"wall_s": w2, "cpu_s": c2},
        "max_rel_diff_distances": rel,
    }


def summarise(records: list[dict[str, Any]], distances: dict[str, Any]) -> dict[str, Any]:
    both = [r for r in records if r["tslearn"] is not None]
    alone = [r for r in records if r["tslearn"] is None]
    cells = lambda rs: sum(r["cells"]["medoid"] + r["cells"]["dba"] for r in rs)  # noqa: E731
    ours_both = sum(r["tshub"]["cpu_s"] for r in both)
    theirs_both = sum(r["tslearn"]["cpu_s"] for r in both)
    ns_per_cell = theirs_both / cells(both) * 1e9 if both else float("nan")
    theirs_alone_estimate = cells(alone) * ns_per_cell / 1e9
    ours_all = sum(r["tshub"]["cpu_s"] for r in records)
    medoids = [m for r in both for m in r["medoids_equal"]]
    return {
        "datasets": len(records),
        "series": sum(r["n_series"] for r in records),
        "cells": cells(records),
        "measured_on_both": {
            "datasets": len(both),
            "share_of_cells": cells(both) / max(cells(records), 1.0),
            "tshub_cpu_s": ours_both,
            "tslearn_cpu_s": theirs_both,
            "ratio": theirs_both / ours_both if ours_both else float("nan"),
            "tslearn_ns_per_cell": ns_per_cell,
            "medoids_equal": f"{sum(medoids)}/{len(medoids)}",
            "max_rel_diff_prototypes": max((r["max_rel_diff_prototypes"] for r in both), default=0.0),
        },
        "tshub_only": {
            "datasets": len(alone),
            "tshub_cpu_s": sum(r["tshub"]["cpu_s"] for r in alone),
            "tslearn_cpu_s_estimated": theirs_alone_estimate,
        },
        "distances": distances,
        "whole_build": {
            "tshub_cpu_s": ours_all + distances["tshub"]["cpu_s"],
            "tslearn_cpu_s": theirs_both + theirs_alone_estimate + distances["tslearn"]["cpu_s"],
            "tslearn_part_estimated_s": theirs_alone_estimate,
        },
    }


def markdown(summary: dict[str, Any], records: list[dict[str, Any]], command: str) -> str:
    s, b, d, w = summary, summary["measured_on_both"], summary["distances"], summary["whole_build"]
    lines = [
        "# Similarity index build: tshub vs tslearn",
        "",
        f"`{command}` — CPU seconds, one thread each side, same z-normalised inputs, {N_ITERATIONS} DBA iterations.",
        "",
        f"- {s['datasets']} training sets, {s['series']:,} series, {s['cells']:.3g} DTW cells in a plain build "
        "(full medoid matrices + DBA).",
        f"- Prototypes, measured on both sides for {b['datasets']} sets ({b['share_of_cells']:.1%} of the cells): "
        f"tshub {b['tshub_cpu_s']:.1f} s, tslearn {b['tslearn_cpu_s']:.1f} s, **{b['ratio']:.1f}× faster**; "
        f"medoids equal {b['medoids_equal']}, largest relative prototype difference {b['max_rel_diff_prototypes']:.2e}.",
        f"- Distances over all {d['n_prototypes']} prototypes (both sides measured): tshub {d['tshub']['cpu_s']:.1f} s, "
        f"tslearn {d['tslearn']['cpu_s']:.1f} s, **{d['tslearn']['cpu_s'] / d['tshub']['cpu_s']:.1f}× faster**; "
        f"largest relative distance difference {d['max_rel_diff_distances']:.2e}.",
    ]
    if s["tshub_only"]["datasets"]:
        lines.append(
            f"- Sets above the tslearn cell limit ({s['tshub_only']['datasets']}): tshub measured "
            f"{s['tshub_only']['tshub_cpu_s']:.1f} s; tslearn *estimated* {s['tshub_only']['tslearn_cpu_s_estimated']:.0f} s "
            f"from its measured {b['tslearn_ns_per_cell']:.2f} ns per cell."
        )
    lines += [
        f"- Whole build: tshub {w['tshub_cpu_s'] / 60:.1f} CPU-min measured; tslearn {w['tslearn_cpu_s'] / 3600:.2f} "
        f"CPU-h ({w['tslearn_part_estimated_s'] / 3600:.2f} h of it estimated): "
        f"**{w['tslearn_cpu_s'] / w['tshub_cpu_s']:.1f}×**.",
        "",
        "| dataset | series | classes | length | cells | tshub s | tslearn s | ratio | medoids equal | max rel diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        c = r["cells"]["medoid"] + r["cells"]["dba"]
        if r["tslearn"] is None:
            theirs = ratio = medoids = diff = "-"
        else:
            theirs = f"{r['tslearn']['cpu_s']:.2f}"
            ratio = f"{r['tslearn']['cpu_s'] / max(r['tshub']['cpu_s'], 1e-9):.1f}"
            medoids = f"{sum(r['medoids_equal'])}/{len(r['medoids_equal'])}"
            diff = f"{r['max_rel_diff_prototypes']:.1e}"
        lines.append(
            f"| {r['name']} | {r['n_series']} | {r['n_classes']} | {r['length']} | {c:.2g} | "
            f"{r['tshub']['cpu_s']:.2f} | {theirs} | {ratio} | {medoids} | {diff} |"
        )
    return "\n".join(lines) + "\n"


def warm_up(tslearn: bool) -> None:
    """Compile both sides' kernels on a small set first, so no dataset's time includes a JIT compilation."""
    index = SimilarityIndex(n_iterations=N_ITERATIONS)
    raw, series, labels = training_set("Coffee", index)
    index.add("a", raw, labels)
    index.add("b", raw, labels)
    if tslearn:
        from tslearn.metrics import cdist_dtw

        protos, _ = tslearn_prototypes(class_members(series, labels, [str(c) for c in np.unique(labels)]))
        cdist_dtw([p.T.astype(np.float64) for p in protos])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=None, help=f"UCR names (default: {len(DEFAULT)} representative)")
    ap.add_argument("--all", action="store_true", help="every UCR training set of the data root")
    ap.add_argument(
        "--tslearn-max-cells",
        type=float,
        default=float("inf"),
        help="run tslearn only on sets whose plain build has at most this many DTW cells",
    )
    ap.add_argument("--work", type=Path, default=Path("bench/runs/similarity_index"))
    ap.add_argument(
        "--out", type=Path, default=None, help="results .md/.json (default bench/results/similarity_index[_all])"
    )
    args = ap.parse_args(argv)
    names = (
        [e["name"] for e in list_datasets() if e["collection"] != "sources"] if args.all else (args.datasets or DEFAULT)
    )
    out = args.out or RESULTS / ("similarity_index_all" if args.all else "similarity_index")
    set_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    warm_up(args.tslearn_max_cells > 0)

    index = SimilarityIndex(n_iterations=N_ITERATIONS)
    costs = {}
    for name in names:  # cheapest first: a budget-limited run covers the most sets
        _, series, labels = training_set(name, index)
        costs[name] = sum(prototype_cells(series, labels).values())
    records = []
    for name in sorted(names, key=costs.get):
        records.append(r := measure_dataset(name, args.work, args.tslearn_max_cells))
        theirs = f"tslearn {r['tslearn']['cpu_s']:8.2f} s" if r["tslearn"] else "tslearn skipped (cell limit)"
        print(f"{name:<32} {costs[name]:9.2g} cells  tshub {r['tshub']['cpu_s']:8.2f} s  {theirs}", flush=True)
    distances = measure_distances([r["name"] for r in records], args.work)
    summary = summarise(records, distances)
    command = "python bench/similarity_index.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(summary, records, command.strip())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps({"command": command, "summary": summary, "datasets": records}, indent=1)
    )
    print(text)


if __name__ == "__main__":
    main()
