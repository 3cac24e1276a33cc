"""One fine-tune job, run wherever an engine sends it (a local child process or a Ray task).

It reads the stored dataset, picks the source (the recommender's first pick for "auto"), fine-tunes, optionally
trains the from-scratch referent with the same recipe, and returns a JSON-ready summary plus the checkpoint
folder as zip bytes. Progress goes to ``report`` after every epoch.
"""

from __future__ import annotations

import io
import math
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import tshub
from server.uploads import load_npz
from tshub.baselines import minirocket_if_possible
from tshub.data.dataset import Dataset, DatasetError
from tshub.data.preprocess import make_preprocessor
from tshub.recommender.advice import compare
from tshub.recommender.cache import FeatureCache
from tshub.recommender.sampling import ScoringPlan
from tshub.training import FitResult, finetune, train_referent
from tshub.training.monitor import HIGHER_IS_BETTER
from tshub.training.recipes import AUTO

Report = Callable[[dict[str, Any]], None]


class JobFailed(Exception):
    """A job that cannot succeed for a reason the user can act on (the message is shown as the job's reason)."""


def run_job(
    spec: dict[str, Any], dataset: Path | bytes, report: Report, state_dir: Path | None = None
) -> tuple[dict[str, Any], bytes]:
    """Run the job described by ``spec`` (see ``server.schemas.JobCreate``) on the stored dataset; with
    ``state_dir`` its trainings save their state there as they go and resume from it (an attempt after a kill), and
    keep it once ended, for the attempt after a kill in a later phase: the worker removes it when the job ends."""
    ds = load_npz(dataset)
    source, told = (spec["model"], {}) if spec["model"] != "auto" else recommend_source(ds, spec, report)
    report = with_source(report, source)
    report({"phase": "loading"})
    model = tshub.load_pretrained(source, local_folders=False)  # ids only: no folder of the working directory
    kind = preprocessing_kind(None if model.preprocessor is None else model.preprocessor.to_config())
    refusal = job_options_refusal(spec, ds.task, ds.n_channels, source, kind)  # the pick of 'auto' is known now
    if refusal is not None:
        raise JobFailed(refusal)
    report({"phase": "finetune"})
    tracker = EpochTracker(report, ds.task, "finetune", spec.get("epochs"))
    recipe = spec.get("recipe", AUTO)
    validation = spec.get("validation", "split")  # jobs queued before the field existed held a fifth out
    result = finetune(
        model,
        ds,
        lr_multiplier=spec["lr_multiplier"],
        search=spec.get("search", "halving"),
        seed=spec["seed"],
        recipe=recipe,
        max_epochs=spec.get("epochs"),
        time_budget_s=spec.get("budget_s"),
        validation=validation,
        relative_target=spec.get("relative_target"),  # absent from jobs queued before the fields existed
        use_stream_max=spec.get("use_stream_max"),
        progress=False,
        on_epoch_end=tracker,
        state_dir=None if state_dir is None else state_dir / "finetune",
        keep_state=True,  # until the job has ended (the worker removes state_dir): a kill later costs no training
    )
    summary: dict[str, Any] = {"source": source, **fit_summary(result), **self_transfer_note(source, ds), **told}
    scratch, rocket = None, None
    if spec.get("baseline"):
        report({"phase": "baseline"})
        tracker = EpochTracker(report, ds.task, "baseline", spec.get("epochs"))
        scratch = train_referent(
            model,
            ds,
            seed=spec["seed"],
            recipe=recipe,
            max_epochs=spec.get("epochs"),
            time_budget_s=spec.get("budget_s"),
            validation=validation,
            relative_target=spec.get("relative_target"),
            use_stream_max=spec.get("use_stream_max"),
            progress=False,
            on_epoch_end=tracker,
            state_path=None if state_dir is None else state_dir / "baseline.safetensors",
            keep_state=True,
        )
        summary["baseline"] = fit_summary(scratch)
        report({"phase": "minirocket"})  # the non-pretrained method to beat, on the same splits (seconds)
        rocket, why_not = minirocket_if_possible(ds, seed=spec["seed"], validation=validation)
        summary["minirocket"] = rocket.summary() if rocket is not None else {"not_run": why_not}
        result.record_comparison(scratch, rocket)
    naive = result.model.meta.get("naive")
    if naive:  # a regression: the naive forecasts' scores on the same splits, what the model must beat
        summary["naive"] = naive
    verdicts = compare(
        result.metrics,
        None if scratch is None else scratch.metrics,
        None if rocket is None else rocket.metrics,
        naive,
        task=result.task,
    )
    summary["verdicts"] = [v.to_dict() for v in verdicts]
    return json_safe(summary), checkpoint_zip(result)


def preprocessing_kind(config: dict[str, Any] | None) -> str:
    """The preprocessing a fine-tune from a checkpoint whose preprocessing config is ``config`` fits: its kind,
    "znorm" when it has none (as ``tshub.training.finetuning.preprocessing_of``)."""
    return (config or {}).get("kind") or "znorm"


def job_options_refusal(
    spec: dict[str, Any], task: str, channels: int, source: str = "auto", preprocessing: str | None = None
) -> str | None:
    """Why the job's ``relative_target`` or ``use_stream_max`` cannot train on this data from this source, in the
    API's own terms (None when they can): POST /v1/jobs answers it as a 422 instead of a job failing later in its
    worker. ``preprocessing``: the kind the source's fine-tune fits (``preprocessing_kind``); None while the source
    is not known (model 'auto' before its ranking)."""
    if spec.get("relative_target") and task != "regression":
        return (
            f"relative_target=true learns regression targets in each series' scale, but this dataset is a {task} "
            "dataset: leave relative_target out (null) or set it to false."
        )
    if preprocessing is None:
        return None
    prep = make_preprocessor(preprocessing)
    if spec.get("use_stream_max") and not prep.uses_stream_max:
        return (
            f"use_stream_max=true gives the model Otović's raw per-series maximum, which only a source preprocessed "
            f"with 'minmax_mask' takes, and {source} is preprocessed with {preprocessing!r}: leave use_stream_max out "
            "(null) or set it to false, or choose a source whose config (GET /v1/models/{source}/{arch}) has "
            "preprocessing 'minmax_mask'."
        )
    if spec.get("relative_target") and not prep.carries_relative_target(channels):
        return (
            f"relative_target=true learns each target in its series' scale, which {source}'s preprocessing "
            f"{preprocessing!r} does not define for series of {channels} channel(s): leave relative_target out "
            "(null) or set it to false, or choose a source whose config (GET /v1/models/{source}/{arch}) has "
            "preprocessing 'minmax_mask'."
        )
    return None


def with_source(report: Report, source: str) -> Report:
    """Every later progress event names the source checkpoint (each event replaces the previous one)."""
    return lambda event: report({**event, "source": source})


def recommend_source(ds: Dataset, spec: dict[str, Any], report: Report) -> tuple[str, dict[str, Any]]:
    """The recommender's first pick among the service's checkpoints (``spec["candidates"]``, None: all the
    hub lists; those that learned nothing or cannot be found are skipped), optionally of one architecture
    (``spec["arch"]``); never one trained on the dataset's own data unless ``spec["allow_self_transfer"]``. The
    fast path, stopped after ``spec["recommend_time_limit_s"]``, its feature cache the job owner's
    (``spec["recommend_cache_scope"]``). With it, what the job's result says of the pick: ``advice`` on fine-tuning
    it (``tshub.recommender.advice``) as a dict, and ``recommendation_note`` where the ranking noted something (every
    candidate scored the same: the pick is arbitrary, and no advice is given)."""
    from tshub.recommender import RecommendError

    arch = spec.get("arch")
    report({"phase": "recommending"})
    try:
        ranking = tshub.recommend(
            ds,
            k=1,
            arch=arch,
            candidates=spec.get("candidates"),
            allow_self_transfer=spec.get("allow_self_transfer", False),
            time_limit_s=spec.get("recommend_time_limit_s"),
            cache=FeatureCache(scope=spec.get("recommend_cache_scope")),
            strict_candidates=False,
            plan=ranking_plan(spec.get("recommend_max_series")),  # POST /v1/recommend's: its first row is the pick
        )
    except (RecommendError, DatasetError) as err:
        raise JobFailed(f"model 'auto': {for_http_clients(str(err))}") from None
    if not len(ranking):
        raise JobFailed(
            f"model 'auto': the recommender could score no source checkpoint"
            f"{f' of arch {arch}' if arch else ''} ({ranking.skipped[:3]}); name a model from "
            "GET /v1/models instead."
        )
    told = {} if ranking.advice is None else {"advice": ranking.advice.to_dict()}
    return str(ranking[0]["id"]), told | ({} if ranking.note is None else {"recommendation_note": ranking.note})


def ranking_plan(max_series: int | None) -> ScoringPlan:
    """The service's fast path, scored on at most ``max_series`` training series (TSHUB_RECOMMEND_MAX_SERIES; None,
    a job queued before the setting was recorded in it: the fast path's own sample)."""
    from tshub.recommender import FAST

    return FAST if max_series is None else replace(FAST, max_series=min(FAST.max_series or max_series, max_series))


def self_transfer_note(source: str, ds: Dataset) -> dict[str, str]:
    """``{"self_transfer": why}`` when the source was trained on the dataset's own data (its metrics then measure
    no transfer), else nothing."""
    from tshub.recommender.candidates import self_transfer_reason

    why = self_transfer_reason(source, ds)
    return {} if why is None else {"self_transfer": why}


def rank_sources(
    dataset: Path,
    k: int,
    arch: str | None,
    method: str,
    candidates: list[str] | None,
    max_series: int,
    allow_self_transfer: bool = False,
    time_limit_s: float | None = None,
    cache_scope: str | None = None,
) -> dict[str, Any]:
    """POST /v1/recommend's work (run isolated, see server.isolation): the fast path's ranking, scored on at most
    ``max_series`` training series (a stratified, seeded sample), stopped after ``time_limit_s``, with the feature
    cache of ``cache_scope`` (the caller's token: another tenant's entries would tell what it ranked); the
    service's checkpoints that learned nothing or cannot be found are skipped rows."""
    from server.isolation import IsolatedFailure
    from tshub.recommender import RecommendError

    try:
        ranking = tshub.recommend(
            load_npz(dataset),
            k=k,
            arch=arch,
            method=method,
            candidates=candidates,
            allow_self_transfer=allow_self_transfer,
            plan=ranking_plan(max_series),
            time_limit_s=time_limit_s,
            cache=FeatureCache(scope=cache_scope),
            strict_candidates=False,
        )
    except (RecommendError, DatasetError) as err:  # DatasetError: data the ranking cannot take, not a server fault
        raise IsolatedFailure(422, for_http_clients(str(err))) from None
    out = ranking.to_dict()
    return json_safe(
        {
            "method": out["method"],
            "score_name": out["score_name"],
            "note": out["note"],
            "recommendations": out["ranking"],
            "skipped": out["skipped"],
            "n_candidates": out["n_candidates"],
            "elapsed_s": out["elapsed_s"],
            "advice": out["advice"],
        }
    )


#: The recommender's advice to library and CLI users (tshub.recommend's refusal of a ranking with no candidate),
#: and what a client of the service can do instead.
HTTP_ADVICE = {
    "build the zoo (scripts/publish), `tshub pull ID` some, or pass candidates=[ids or folders].": (
        "GET /v1/models lists the source checkpoints this server offers; ask its operator for others."
    ),
    "allow_self_transfer=True": '"allow_self_transfer": true',
    "see `tshub list`": "see GET /v1/models",
}


def for_http_clients(message: str) -> str:
    """A recommender's message with its advice to library users (build the zoo, pull checkpoints, pass candidates,
    a keyword argument) said in the API's terms, which is all an HTTP client can act on."""
    for library, http in HTTP_ADVICE.items():
        message = message.replace(library, http)
    return message


def fit_summary(result: FitResult) -> dict[str, Any]:
    """What a job's result says of one training; ``val_curve`` is the per-epoch metric its progress reported, so a
    page opened after the job ended draws the whole curve of the kept run."""
    metric = progress_metric(result.task)
    return {
        "lr_multiplier": result.lr_multiplier,
        "metrics": result.metrics,
        "val_metrics": result.val_metrics,
        "val_curve": {"metric": f"val_{metric}", "values": [r.get(f"val_{metric}") for r in result.history]},
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "splits": result.model.meta["splits"],
        "validation_is_train": bool(result.model.meta.get("validation_is_train")),
        "convergence_rate": result.convergence_rate,
        "learned_nothing": result.learned_nothing,  # why the model is worth nothing, though the job succeeded
        "elapsed_s": result.elapsed_s,
        "grid": result.grid,
        "transfer_report": None if result.transfer_report is None else result.transfer_report.to_dict(),
    }


def checkpoint_zip(result: FitResult) -> bytes:
    """The fine-tuned checkpoint folder (save_pretrained) as a zip with the files at its root."""
    with tempfile.TemporaryDirectory() as tmp:
        return folder_zip(result.model.save_pretrained(Path(tmp) / "model"))


def folder_zip(folder: str | Path) -> bytes:
    """A checkpoint folder's files as a zip with the files at its root (unzip, then tshub.load_pretrained)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                archive.write(path, path.name)
    return buffer.getvalue()


class EpochTracker:
    """Turns per-epoch history records into progress events: epoch, which ω of how many (as ``finetune`` tells
    its hook), validation metric and its best for that ω (a best over every ω tried would sit beside another ω's
    value as if it were its own)."""

    def __init__(self, report: Report, task: str, phase: str, max_epochs: int | None):
        self.report, self.phase, self.max_epochs = report, phase, max_epochs
        self.metric = progress_metric(task)
        self.higher = self.metric in HIGHER_IS_BETTER
        self.best: dict[Any, float] = {}  # ω (None with one ω) → its best value so far

    def __call__(self, record: dict[str, Any]) -> None:
        value = record.get(f"val_{self.metric}")
        omega = record.get("lr_multiplier") if record.get("runs", 1) > 1 else None
        best = self.best.get(omega)
        if (
            value is not None
            and math.isfinite(value)
            and (best is None or (value > best if self.higher else value < best))
        ):
            self.best[omega] = value
        if record.get("restored"):  # an epoch before the attempt's restart: counted in the best, reported then
            return
        event = {
            "phase": self.phase,
            "epoch": record.get("epoch"),
            "max_epochs": record.get("max_epochs") or self.max_epochs,  # the recipe's limit, where none was asked
            "loss": record.get("loss"),
            "metric": f"val_{self.metric}",
            "value": value,
            "best": self.best.get(omega),
        }
        if record.get("runs", 1) > 1:
            event.update(run=record["run"], runs=record["runs"], lr_multiplier=record["lr_multiplier"])
        self.report(json_safe(event))


def progress_metric(task: str) -> str:
    """The validation metric a job's progress and result curve show."""
    return "accuracy" if task == "classification" else "mae"


def json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become None, numpy scalars Python numbers, tuples lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
