"""Benchmark: building the similarity index with tshub against tslearn on the same inputs.

Both sides get the same z-normalised training series and compute the same things: per class the medoid (smallest
sum of squared DTW distances), DBA from it for 10 iterations (tslearn: ``dtw_barycenter_averaging(X,
init_barycenter=medoid, max_iter=10, tol=0)``), prototypes rounded to float32 as the index stores them, then the
bigdata18 dataset distances (min DTW over prototype pairs; tslearn: ``cdist_dtw`` over all prototypes). Reports
wall and CPU times, the speed ratio, the largest relative differences, and the DTW cells of the whole archive
to extrapolate a full build.

    .venv/bin/python bench/similarity_index.py                  # representative subset, a few minutes
    .venv/bin/python bench/similarity_index.py --all --no-tslearn --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from tshub.data.catalogue import list_datasets, load
from tshub.similarity import SimilarityIndex, set_threads
from tshub.similarity.dba import medoid_index
from tshub.similarity.index import split_series

# small to mid-sized sets of several kinds: many classes (SwedishLeaf, FiftyWords), long series (Beef, Lightning7),
# a big class (Wafer, ECG5000), variable lengths (GesturePebbleZ1), missing values (DodgerLoopDay)
DEFAULT = ["GunPoint", "ECG200", "Coffee", "Beef", "Lightning7", "FaceFour", "SwedishLeaf", "FiftyWords",
           "Strawberry", "ECG5000", "Wafer", "GesturePebbleZ1", "DodgerLoopDay", "DistalPhalanxOutlineAgeGroup",
           "MiddlePhalanxOutlineAgeGroup"]


def training_sets(names: list[str]) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """name -> (raw training series, labels) as the index reads them."""
    out = {}
    for name in names:
        X, y = split_series(load(name))
        out[name] = (list(X), np.zeros(len(X), np.int64) if y is None else np.asarray(y))
    return out


def cells(data: dict[str, tuple[list[np.ndarray], np.ndarray]], n_iterations: int = 10) -> dict[str, float]:
    """DTW cells a plain build computes: full medoid matrices (n(n-1)/2 pairs), DBA, all prototype pairs.

    ``data``: name -> (prepared (t, c) series, labels).
    """
    medoid = dba = 0.0
    protos = []
    for series, y in data.values():
        for label in np.unique(y):
            lengths = np.array([len(s) for s, lab in zip(series, y) if lab == label], dtype=np.float64)
            medoid += (lengths.sum() ** 2 - (lengths**2).sum()) / 2
            dba += n_iterations * lengths.sum() * lengths.mean()
            protos.append(lengths.mean())
    p = np.array(protos)
    return {"medoid": medoid, "dba": dba, "distances": (p.sum() ** 2 - (p**2).sum()) / 2}


def clock(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def run_tshub(raw, index: SimilarityIndex):
    """The index from the raw series (z-normalisation included in the prototype time)."""
    protos, t_proto, t_dist = {}, [0.0, 0.0], [0.0, 0.0]
    for name, (X, y) in raw.items():
        (classes, p), w, c = clock(lambda: index.make_prototypes(X, y))
        t_proto[0] += w
        t_proto[1] += c
        _, w, c = clock(lambda: index.add(name, prototypes=p, classes=classes, n_series=len(X)))
        t_dist[0] += w
        t_dist[1] += c
        protos[name] = dict(zip(classes, p))
    return protos, index.distances, t_proto, t_dist


def run_tslearn(data, n_iterations: int = 10):
    """The same from the series as the index prepares them (DBA paths flip under 1e-7 input changes)."""
    from tslearn.barycenters import dtw_barycenter_averaging
    from tslearn.metrics import cdist_dtw

    def prototypes():
        out, medoids = {}, []
        for name, (series, y) in data.items():
            out[name] = {}
            for label in np.unique(y):
                members = [s for s, lab in zip(series, y) if lab == label]
                D = cdist_dtw(members)
                m = int(np.argmin((D**2).sum(axis=1)))
                medoids.append((name, label, m))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    avg = dtw_barycenter_averaging(members, init_barycenter=members[m], max_iter=n_iterations, tol=0)
                out[name][str(label)] = avg.T.astype(np.float32)
        return out, medoids

    def distances(protos):
        flat = [(name, p.T.astype(np.float64)) for name in data for p in protos[name].values()]
        D = cdist_dtw([p for _, p in flat])
        owner = np.array([list(data).index(n) for n, _ in flat])
        out = np.zeros((len(data), len(data)))
        for a in range(len(data)):
            for b in range(a + 1, len(data)):
                out[a, b] = out[b, a] = D[np.ix_(owner == a, owner == b)].min()
        return out

    (protos, medoids), w1, c1 = clock(prototypes)
    dist, w2, c2 = clock(lambda: distances(protos))
    return protos, medoids, dist, [w1, c1], [w2, c2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=None, help=f"UCR names (default: {len(DEFAULT)} representative)")
    ap.add_argument("--all", action="store_true", help="every UCR training set of the data root")
    ap.add_argument("--threads", type=int, default=1, help="numba threads for tshub (tslearn runs on one)")
    ap.add_argument("--no-tslearn", action="store_true", help="time tshub only")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    names = [e["name"] for e in list_datasets() if e["collection"] != "sources"] if args.all else (args.datasets or DEFAULT)
    set_threads(args.threads)

    index = SimilarityIndex()
    SimilarityIndex().make_prototypes(*training_sets(["Coffee"])["Coffee"])  # compile / load the kernels first
    raw = training_sets(names)
    data = {name: (index.preprocess(X), y) for name, (X, y) in raw.items()}
    work = cells(data)
    print(f"{len(names)} datasets, {sum(len(s) for s, _ in data.values())} series; DTW cells of a plain build: "
          + ", ".join(f"{k} {v:.3g}" for k, v in work.items()), flush=True)

    protos, dist, t_proto, t_dist = run_tshub(raw, index)
    result = {"datasets": names, "threads": args.threads, "cells": work,
              "tshub": {"prototypes_wall_s": t_proto[0], "prototypes_cpu_s": t_proto[1],
                        "distances_wall_s": t_dist[0], "distances_cpu_s": t_dist[1]}}
    print(f"tshub:   prototypes {t_proto[0]:8.2f} s wall {t_proto[1]:8.2f} s cpu | "
          f"distances {t_dist[0]:7.2f} s wall {t_dist[1]:7.2f} s cpu", flush=True)

    if not args.no_tslearn:
        t_protos, t_medoids, t_dist_m, tp, td = run_tslearn(data)
        ours_medoids = sum(
            medoid_index([s.T for s, lab in zip(*data[name]) if lab == label]) == m for name, label, m in t_medoids
        )
        rel_p = max(float(np.abs(p - t_protos[name][label]).max() / np.abs(t_protos[name][label]).max())
                    for name in names for label, p in protos[name].items())
        off = ~np.eye(len(names), dtype=bool)
        rel_d = float((np.abs(dist - t_dist_m)[off] / t_dist_m[off]).max()) if len(names) > 1 else 0.0
        total_ours, total_ts = t_proto[1] + t_dist[1], tp[1] + td[1]
        result["tslearn"] = {"prototypes_wall_s": tp[0], "prototypes_cpu_s": tp[1],
                             "distances_wall_s": td[0], "distances_cpu_s": td[1]}
        result["accuracy"] = {"max_rel_diff_prototypes": rel_p, "max_rel_diff_distances": rel_d,
                              "medoids_equal": f"{ours_medoids}/{len(t_medoids)}"}
        result["ratio_cpu"] = {"prototypes": tp[1] / t_proto[1], "distances": td[1] / t_dist[1],
                               "total": total_ts / total_ours}
        result["ratio_wall"] = {"total": (tp[0] + td[0]) / (t_proto[0] + t_dist[0])}
        result["tslearn_ns_per_cell"] = {"prototypes": tp[1] / (work["medoid"] + work["dba"]) * 1e9,
                                         "distances": td[1] / work["distances"] * 1e9}
        print(f"tslearn: prototypes {tp[0]:8.2f} s wall {tp[1]:8.2f} s cpu | distances {td[0]:7.2f} s wall "
              f"{td[1]:7.2f} s cpu")
        print(f"speed-up (cpu): prototypes {result['ratio_cpu']['prototypes']:.1f}x, distances "
              f"{result['ratio_cpu']['distances']:.1f}x, total {result['ratio_cpu']['total']:.1f}x "
              f"(wall {result['ratio_wall']['total']:.1f}x)")
        print(f"max relative difference: prototypes {rel_p:.2e}, distances {rel_d:.2e}; "
              f"medoids equal {ours_medoids}/{len(t_medoids)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
