"""A figure of what bigdata18's similarity compares: the target's DBA class prototypes beside its best sources'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tshub.data.catalogue import load
from tshub.data.dataset import Dataset, DatasetError
from tshub.data.splits import as_training_data
from tshub.hub.ids import source_key
from tshub.recommender.api import load_target
from tshub.recommender.dtw import load_index
from tshub.recommender.errors import RecommendError
from tshub.recommender.results import Recommendation

#: The one prototype's label where the data has no classes (a regression target): all its series.
ALL_SERIES = "all series"
PLOT_SERIES_PER_CLASS = 100  # DBA of a source without saved prototypes: a seeded sample per class bounds its cost


def plot_prototypes(
    recommendation: Recommendation,
    target: str | Dataset,
    path: str | Path | None = None,
    *,
    n_sources: int = 3,
    index: Any = None,
) -> Any:
    """The target's class prototypes (DBA, as bigdata18 compares datasets) beside those of the best sources.

    Source prototypes come from the similarity index when it has them, else from the source's catalogue data
    (at most ``PLOT_SERIES_PER_CLASS`` series per class). Shows channel 0. Returns the figure; saves it to ``path``.
    """
    plt = _pyplot()
    from tshub.similarity import SimilarityIndex

    why = None if path is None else unwritable_format(path)
    if why:  # before the prototypes are averaged, not by savefig after them
        raise RecommendError(f"cannot save the prototype plot to {path}: {why}.")
    dataset = as_training_data(load_target(target)[0])  # a file without splits is training data
    loaded, _ = load_index(index)
    maker = loaded if loaded is not None else SimilarityIndex()
    panels: list[tuple[str, list[tuple[str, Any]] | None]] = [
        (f"target {dataset.name}", _prototypes_of(dataset, maker))
    ]
    seen = set()
    for row in recommendation.ranking:
        if len(panels) > n_sources or source_key(row.source) in seen:
            continue
        seen.add(source_key(row.source))
        panels.append(
            (
                f"#{row.rank} {row.id}\n{recommendation.method} {row.score:.4g}",
                _source_prototypes(row.source, maker, loaded),
            )
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (title, protos) in zip(axes[0], panels):
        if protos is None:
            ax.text(0.5, 0.5, "source data unavailable", ha="center", va="center", transform=ax.transAxes)
        else:
            for label, proto in protos[:10]:
                ax.plot(proto[0], linewidth=1.2, label=str(label))
            ax.legend(fontsize=7, title=None if protos[0][0] == ALL_SERIES else "class", title_fontsize=7, loc="best")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("time")
    axes[0][0].set_ylabel("z-normalised value (channel 0)")
    fig.suptitle("DBA prototypes (one per class): target and recommended sources", fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def unwritable_format(path: str | Path) -> str | None:
    """Why matplotlib would not write an image at ``path`` as named, or None: a suffix no format of its has
    (``x.txt``), or none (it would write ``x.png``, not ``x``)."""
    _pyplot()  # saying how to install matplotlib where it is missing
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix.lstrip(".").lower()
    if suffix in formats:
        return None
    said = f"matplotlib writes no {suffix!r} files" if suffix else "the name has no suffix to say the image format"
    return f"{said}; use one of {', '.join('.' + f for f in formats)}"


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("the prototype plot needs matplotlib: pip install 'tshub[plot]'.") from err
    return plt


def _prototypes_of(dataset: Dataset, maker: Any, cap: int | None = None) -> list[tuple[str, Any]]:
    import numpy as np

    from tshub.similarity.index import split_series

    X, y = split_series(dataset)
    labels = np.zeros(len(X), dtype=np.int64) if y is None else np.asarray(y)
    if cap is not None:
        rng = np.random.default_rng(0)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:cap] for c in np.unique(labels)]))
        X, labels = [X[i] for i in keep], labels[keep]
    made = list(zip(*maker.make_prototypes(X, labels)))
    return [(ALL_SERIES, proto) for _, proto in made] if y is None else made


def _source_prototypes(source: str, maker: Any, index: Any) -> list[tuple[str, Any]] | None:
    if index is not None:
        match = next((n for n in index.names if source_key(n) == source_key(source)), None)
        if match is not None:
            return index.prototypes(match)
    try:
        return _prototypes_of(load(source), maker, cap=PLOT_SERIES_PER_CLASS)
    except (DatasetError, KeyError, OSError):
        return None
