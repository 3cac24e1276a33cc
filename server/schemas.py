"""Request and response bodies of the /v1 API, with the examples shown in the OpenAPI document."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from server.db import DatasetRecord, Job

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
MAX_SEED = 2**31 - 1
MAX_OMEGAS = 20


def explain_omega_zero(value: Any) -> Any:
    """Say why a job refuses ω = 0, which tshub's finetune takes (the bound alone read 'should be greater than 0')."""
    if type(value) in (int, float) and value == 0:
        raise ValueError(
            "ω = 0 leaves the transferred layers as they are, which this service does not offer: a job trains them at "
            "ω times the learning rate, 0 < ω ≤ 100; to keep them nearly fixed, give a small ω such as 0.01"
        )
    return value


def each_omega_once(omegas: list[float]) -> list[float]:
    """Refuse a list that repeats an ω: each one is the same seeded training, so a repeat costs time and adds nothing
    (it was trained again, and counted among the runs)."""
    repeated = {omega: n for omega, n in Counter(omegas).items() if n > 1}
    if repeated:
        raise ValueError(
            f"lr_multiplier repeats {', '.join(f'{omega:g} ({n} times)' for omega, n in repeated.items())}: each ω "
            f"is the same seeded training, so give each ω once, e.g. {[*dict.fromkeys(omegas)]}"
        )
    return omegas


def omega_form(value: Any) -> str | None:
    """Which form of ``lr_multiplier`` a client sent, so that only that form's error answers (a plain union answered
    one error per form: a refused ω also got 'Input should be a valid array' and "Input should be 'grid'")."""
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "grid"
    return "number" if isinstance(value, (int, float)) else None


# strict: a boolean is no ω; 0 is refused saying why (explain_omega_zero) before the bounds answer
Omega = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False, strict=True), BeforeValidator(explain_omega_zero)]
Omegas = Annotated[
    Annotated[Omega, Tag("number")]
    | Annotated[list[Omega], Field(min_length=1, max_length=MAX_OMEGAS), AfterValidator(each_omega_once), Tag("list")]
    | Annotated[Literal["grid"], Tag("grid")],
    Discriminator(
        omega_form,
        custom_error_type="lr_multiplier_type",
        custom_error_message="lr_multiplier takes one ω (a number), a list of distinct ω, or 'grid'",
    ),
]


class Error(BaseModel):
    detail: str = Field(examples=["no job 'e3b0c442' for this token"])


class InvalidField(BaseModel):
    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(
        description="where: 'body', 'query' or 'path', then the field", examples=[["body", "k"]]
    )
    msg: str = Field(examples=["Input should be less than or equal to 100"])
    type: str = Field(examples=["less_than_equal"])


class Invalid(BaseModel):
    """A 422: a sentence from tshub's own checks, or FastAPI's list of the fields that failed validation."""

    detail: str | list[InvalidField]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(examples=["0.1.0"])


# ---------------------------------------------------------------------------------------------------- datasets
class DatasetSummary(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "name": "GunPoint",
                    "task": "classification",
                    "n": 200,
                    "channels": 1,
                    "length": 150,
                    "splits": {"train": 40, "val": 10, "test": 150},
                    "classes": ["1", "2"],
                    "class_counts": [100, 100],
                    "files": ["GunPoint_TRAIN.tsv", "GunPoint_TEST.tsv"],
                    "warnings": ["carved 10 of the 50 training series (20%) as validation (seed 0, stratified)"],
                }
            ]
        },
    )

    name: str
    task: Literal["classification", "regression"]
    n: int = Field(description="number of series")
    channels: int
    length: int = Field(description="samples per series")
    splits: dict[str, int] = Field(description="series per split (train, val, test)")
    classes: list[str] | None = Field(None, description="class labels (classification)")
    class_counts: list[int] | None = None
    target_range: list[float] | None = Field(None, description="[min, max] of the targets (regression)")
    files: list[str] = Field(default_factory=list, description="uploaded file names")
    warnings: list[str] = Field(default_factory=list, description="things that do not stop training but matter")
    split_protocol: dict[str, Any] | None = Field(
        None,
        description="how the splits were carved (tshub.data.splits): 'rule' 'chronological_holdout' for sliding "
        "windows (or split_order 'time'), with the stride, the rows held out and the windows purged before each "
        "block (before each series' block, and how many series, for the windows of several series); 'given' with "
        "the series per split where the files brought every split; null for "
        "uploads stored before it was recorded",
    )


class DatasetOut(BaseModel):
    id: str = Field(examples=["5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b"])
    filename: str = Field(examples=["GunPoint_TRAIN.tsv"])
    created_at: datetime
    summary: DatasetSummary

    @classmethod
    def of(cls, row: DatasetRecord) -> DatasetOut:
        return cls(id=row.id, filename=row.filename, created_at=row.created_at, summary=DatasetSummary(**row.summary))


class DatasetPage(BaseModel):
    items: list[DatasetOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last page")


# ---------------------------------------------------------------------------------------------------- jobs
class JobCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b",
                    "model": "Coffee/fcn",
                    "lr_multiplier": 1.0,
                    "epochs": 50,
                    "seed": 0,
                    "baseline": True,
                },
                {
                    "dataset_id": "5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b",
                    "model": "auto",
                    "arch": "fcn",
                    "lr_multiplier": "grid",
                    "budget_s": 600,
                },
            ]
        },
    )

    dataset_id: str = Field(min_length=1, max_length=64, description="id returned by POST /v1/datasets")
    model: str = Field(
        "auto",
        min_length=1,
        max_length=200,
        description="source checkpoint '<SOURCE>/<arch>' from GET /v1/models, or 'auto' to use the "
        "recommender's first pick",
    )
    arch: str | None = Field(None, max_length=64, description="with model='auto': only consider this architecture")
    allow_self_transfer: bool = Field(
        False,
        description="with model='auto': also consider checkpoints trained on "
        "this dataset's own data (left out by default)",
    )
    lr_multiplier: Omegas = Field(
        1.0,
        description="ω, the learning-rate multiplier of the transferred layers (0 < ω ≤ 100); a list of distinct ω "
        "to try, keeping the best on validation; or 'grid' for Otović's ten, 0.01…2",
    )
    search: Literal["halving", "full"] = Field(
        "halving",
        description="with several ω: successive halving (drop the worse two thirds at each rung, on "
        "validation) or every ω to the end",
    )
    recipe: Literal["auto", "default", "ucr", "otovic", "bigdata18"] = Field(
        "auto", description="training recipe; 'auto': 'ucr' for at most 1000 training series, else 'default'"
    )
    epochs: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="at most this many epochs per ω (default: the recipe's, 1000 for ucr, 250 for default)",
    )
    budget_s: float | None = Field(
        None,
        gt=0,
        le=7 * 86400,
        allow_inf_nan=False,
        description="wall-clock budget of the fine-tune, s, and again of its baseline (with baseline: true); the "
        "two at most the server's TSHUB_MAX_JOB_S",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    validation: Literal["split", "train"] = Field(
        "split",
        description="'split': the weights, ω and the stop are chosen on the validation split carved at upload (in time "
        "order after a purged gap for sliding windows: the upload's split_order); "
        "'train': every training series trains (the validation split's too) and they choose (on 13 small UCR sets "
        "fine-tuning scored 0.922 against 0.908 that way, 22 wins, 7 ties, 10 losses)",
    )
    relative_target: bool | None = Field(
        None,
        description="regression: learn each target in its series' normalised space (true) or standardised (false); "
        "null: relative exactly when the training targets follow their series' level (a forecast of the next value)",
    )
    use_stream_max: bool | None = Field(
        None,
        description="whether the model takes Otović's raw per-series maximum as an input (null: as the source "
        "does, but not beside a relative target); false for data in other units than the source's, whose raw maximum would swamp the head",
    )
    baseline: bool = Field(
        False,
        description="also train the architecture from scratch and fit MiniRocket (a ridge classifier or regressor) "
        "on the same splits, and report their metrics beside the fine-tune's",
    )

    def spec(self) -> dict[str, Any]:
        return self.model_dump(exclude={"dataset_id"})


class Progress(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "phase": "finetune",
                    "epoch": 12,
                    "max_epochs": 50,
                    "loss": 0.21,
                    "metric": "val_accuracy",
                    "value": 0.9,
                    "best": 0.95,
                }
            ]
        },
    )

    phase: str | None = Field(
        None,
        description="recommending, loading, finetune, baseline or minirocket while it runs; done once it succeeded "
        "(a failed or cancelled job keeps the phase it stopped in)",
    )
    source: str | None = Field(None, description="the source checkpoint being fine-tuned")
    epoch: int | None = Field(None, description="epoch of the ω training now (each ω counts its own epochs)")
    max_epochs: int | None = None
    loss: float | None = Field(None, description="training loss of the epoch")
    metric: str | None = Field(None, description="validation metric tracked")
    value: float | None = Field(None, description="its value at this epoch")
    best: float | None = Field(None, description="best value so far in this phase, of the ω training now")
    run: int | None = Field(None, description="with lr_multiplier='grid': which ω is training (1-based) ...")
    runs: int | None = Field(None, description="... of how many")
    lr_multiplier: float | None = Field(None, description="... and its value")


#: A verdict as the API's examples show it (JobVerdict's, and the first of JobOut's).
VERDICT_EXAMPLE: dict[str, Any] = {
    "referent": "scratch",
    "metric": "accuracy",
    "tuned": 0.98,
    "value": 0.93,
    "outcome": "won",
    "note": "one seed, one split: another seed or split may order them otherwise",
    "sentence": "Fine-tuning beat training from scratch: test accuracy 0.9800 vs 0.9300 (one seed, one split).",
}


class JobVerdict(BaseModel):
    """Whether the fine-tune beat one referent on the test split (``tshub.recommender.advice.compare``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [VERDICT_EXAMPLE]})

    referent: Literal["scratch", "minirocket", "persistence"] = Field(
        description="what the fine-tune is compared with, on the same splits: the architecture trained from scratch, "
        "MiniRocket, or (a regression) each series' last value"
    )
    metric: Literal["accuracy", "mae"] = Field(description="the task's headline test metric (MAE: lower is better)")
    tuned: float | None = Field(None, description="the fine-tuned model's value (null: no test split)")
    value: float | None = Field(None, description="the referent's value (null: no test split)")
    outcome: Literal["won", "lost", "tied"] | None = Field(
        None, description="the fine-tune's outcome; null when there is no test split to decide it"
    )
    note: str = Field(description="what one comparison cannot tell (one seed, one split)")
    sentence: str = Field(description="the verdict in words, as the job's web page shows it")


class JobOut(BaseModel):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "id": "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
                    "state": "succeeded",
                    "reason": None,
                    "dataset_id": "5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b",
                    "model": "auto",
                    "source": "Coffee/fcn",
                    "lr_multiplier": 0.5,
                    "attempts": 1,
                    "cancel_requested": False,
                    "progress": {"phase": "done", "source": "Coffee/fcn"},
                    "metrics": {"accuracy": 0.98, "f1_weighted": 0.98},
                    "baseline_metrics": {"accuracy": 0.93, "f1_weighted": 0.93},
                    "minirocket_metrics": {"accuracy": 0.99, "f1_weighted": 0.99},
                    "verdicts": [
                        VERDICT_EXAMPLE,
                        {
                            "referent": "minirocket",
                            "metric": "accuracy",
                            "tuned": 0.98,
                            "value": 0.99,
                            "outcome": "lost",
                            "note": "one seed, one split: another seed or split may order them otherwise",
                            "sentence": "Fine-tuning did not beat MiniRocket: test accuracy 0.9800 vs 0.9900 "
                            "(one seed, one split).",
                        },
                    ],
                    "created_at": "2024-05-01T12:00:00Z",
                    "started_at": "2024-05-01T12:00:01Z",
                    "finished_at": "2024-05-01T12:03:10Z",
                    "model_url": "/v1/jobs/9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f/model",
                }
            ]
        },
    )

    id: str
    state: JobState
    reason: str | None = Field(
        None,
        description="why it failed or was cancelled, why it was requeued (while it waits to run again), or why "
        "it is being cancelled",
    )
    dataset_id: str
    model: str = Field(description="the model requested")
    source: str | None = Field(None, description="the source checkpoint used (the recommender's pick for 'auto')")
    lr_multiplier: float | list[float] | str | None = Field(None, description="ω requested, then the ω chosen")
    attempts: int
    cancel_requested: bool
    progress: Progress | None = None
    metrics: dict[str, float | None] | None = Field(None, description="test metrics of the fine-tuned model")
    baseline_metrics: dict[str, float | None] | None = Field(
        None, description="test metrics of the from-scratch baseline, when asked"
    )
    minirocket_metrics: dict[str, float | None] | None = Field(
        None, description="test metrics of MiniRocket on the same splits, when a baseline was asked"
    )
    verdicts: list[JobVerdict] | None = Field(
        None,
        description="once succeeded: whether fine-tuning beat each referent trained on the same splits (from scratch "
        "and MiniRocket when a baseline was asked, persistence for a regression); an empty list when none was",
    )
    result: dict[str, Any] | None = Field(
        None,
        description="everything the fine-tune reported (validation metrics, ω grid, transfer report, epochs, verdicts; "
        "for a regression, `naive`: the test and validation metrics of the naive forecasts it must beat, the training "
        "mean and, for a forecast of the next value, persistence)",
    )
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    model_url: str | None = Field(None, description="download of the fine-tuned checkpoint once succeeded")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        result = job.result or {}
        progress = job.progress or {}
        return cls(
            id=job.id,
            state=cast(JobState, job.state),
            reason=job.reason,
            dataset_id=job.dataset_id,
            model=job.spec["model"],
            source=result.get("source")
            or progress.get("source")
            or (job.spec["model"] if job.spec["model"] != "auto" else None),
            lr_multiplier=result.get("lr_multiplier", job.spec["lr_multiplier"]),
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            progress=Progress(**progress) if progress else None,
            metrics=result.get("metrics"),
            baseline_metrics=(result.get("baseline") or {}).get("metrics"),
            minirocket_metrics=(result.get("minirocket") or {}).get("metrics"),
            verdicts=result.get("verdicts"),  # None from jobs that ended before verdicts were recorded
            result=result or None,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            model_url=f"/v1/jobs/{job.id}/model" if job.state == "succeeded" else None,
        )


class JobPage(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page; null on the last page")


# ---------------------------------------------------------------------------------------------------- models
class ModelInfo(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "id": "Coffee/fcn",
                    "source": "Coffee",
                    "arch": "fcn",
                    "task": "classification",
                    "domain": "UCR/Spectro",
                    "metric": "Accuracy",
                    "metric_value": 1.0,
                    "n_parameters": 264962,
                    "repo_id": "tshub/Coffee-fcn",
                }
            ]
        },
    )

    id: str
    source: str
    arch: str
    task: str | None = None


class ModelDetail(BaseModel):
    id: str = Field(examples=["Coffee/fcn"])
    config: dict[str, Any] = Field(description="the checkpoint's config.json")
    card: str = Field(description="the model card (README.md, markdown)")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"dataset_id": "5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b", "k": 3, "arch": "fcn", "method": "logme"}]
        },
    )

    dataset_id: str = Field(min_length=1, max_length=64)
    k: int = Field(5, ge=1, le=100, description="how many sources to return")
    arch: str | None = Field(None, max_length=64, description="only rank checkpoints of this architecture")
    method: Literal["logme", "hscore", "dtw", "dtw+logme"] = Field(
        "logme",
        description="transferability of each checkpoint's features (logme, hscore), bigdata18's DTW "
        "dataset similarity (dtw) or the mean of the dtw and logme ranks (dtw+logme); see tshub.recommend",
    )
    allow_self_transfer: bool = Field(
        False, description="also rank checkpoints trained on this dataset's own data (listed under skipped by default)"
    )


class Recommendation(BaseModel):
    model_config = ConfigDict(extra="allow")

    rank: int = Field(examples=[1])
    id: str = Field(description="model id of a source checkpoint", examples=["Coffee/fcn"])
    score: float | None = Field(None, description="the method's score, higher is better")
    source: str | None = None
    arch: str | None = None
    details: Any = None
    training: str | None = Field(
        None, description="how the checkpoint's training ended ('converged', 'time budget, not converged', ...)"
    )


class RecommendOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dataset_id": "5f2b7c3e9a0d4e6f8a1b2c3d4e5f6a7b",
                    "method": "logme",
                    "score_name": "LogME evidence",
                    "recommendations": [
                        {"rank": 1, "id": "Coffee/fcn", "score": 0.41, "source": "Coffee", "arch": "fcn"}
                    ],
                    "skipped": [],
                }
            ]
        }
    )

    dataset_id: str
    method: str
    score_name: str
    note: str | None = None
    recommendations: list[Recommendation]
    skipped: list[dict[str, str]] = Field(
        default_factory=list, description="checkpoints left out or that could not be scored, each with the reason"
    )
    n_candidates: int | None = Field(None, description="checkpoints considered, skipped ones included")
    elapsed_s: float | None = Field(None, description="seconds the ranking took")
    advice: dict[str, Any] | None = Field(
        None,
        description="whether fine-tuning the first pick is expected to beat training from scratch and MiniRocket "
        "on this dataset, with the evidence it rests on (tshub.recommender.advice; 'summary' says it in a line; "
        "an uploaded dataset is never taken for a benchmark target, so a verdict's 'held_out' stays null here)",
    )
