"""Build the source-recommender similarity index over every UCR training set into ``zoo/similarity/``.

Resumable: the index is saved after every source, and a re-run loads it and skips the sources it already holds
(the parameters must match).

    nice -n 10 .venv/bin/python scripts/build_similarity_index.py            # all UCR sets of the data root
    .venv/bin/python scripts/build_similarity_index.py --only GunPoint Coffee --out /tmp/idx
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tshub.data.catalogue import list_datasets
from tshub.similarity import SimilarityIndex, set_threads
from tshub.similarity.index import DEFAULT_FOLDER


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_FOLDER, help=f"index folder (default {DEFAULT_FOLDER})")
    ap.add_argument(
        "--root", default=None, help="data root holding UCRArchive_2018 (default: $TSHUB_DATA or ../shared/data)"
    )
    ap.add_argument("--only", nargs="+", default=None, help="these catalogue names instead of every UCR set")
    ap.add_argument("--threads", type=int, default=1, help="threads for the DTW kernels (default 1)")
    ap.add_argument("--window", type=float, default=None, help="Sakoe-Chiba radius: samples if >= 1, else fraction")
    ap.add_argument("--iterations", type=int, default=10, help="DBA iterations")
    ap.add_argument("--medoid", default="exact", help="'exact' or 'top:N'")
    args = ap.parse_args()
    set_threads(args.threads)
    window = None if args.window is None else (int(args.window) if args.window >= 1 else args.window)
    names = args.only or [e["name"] for e in list_datasets(args.root) if e["collection"] != "sources"]
    try:
        index = SimilarityIndex.build(
            names,
            args.out,
            root=args.root,
            progress=True,
            window=window,
            n_iterations=args.iterations,
            medoid=args.medoid,
        )
    except ValueError as e:
        raise SystemExit(str(e)) from None
    print(f"[similarity] done: {len(index)} sources in {args.out}", flush=True)


if __name__ == "__main__":
    main()
