"""The ``tshub`` command line: one ``_add_<command>`` function per subcommand, registered in ``COMMANDS``.

``list`` / ``pull`` / ``info`` browse and fetch checkpoints, ``push`` publishes them to a Hub (the Hugging Face
Hub or ``tshub serve``, by ``HF_ENDPOINT``), ``finetune`` adapts one to a dataset, ``predict`` applies one to
series (and scores it on labelled ones). Installed packages add their
commands through the ``tshub.commands`` entry points (the service's ``serve`` and ``token``), so the library never
imports them (a parser function + a handler returning an exit code).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import csv
import json
import math
import os
import re
import shlex
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import numpy as np
from huggingface_hub.errors import HfHubHTTPError

import tshub
from tshub.baselines import minirocket_if_possible
from tshub.data.dataset import Dataset, DatasetError, meta_of_rows
from tshub.data.splits import SPLIT_ORDERS, VALIDATIONS
from tshub.hub.card import (
    METRIC_NAMES,
    NAIVE_COLUMNS,
    equalised_words,
    human_size,
    input_form,
    naive_test_metrics,
    naive_verdicts,
    parent_words,
    source_info,
)
from tshub.hub.checkpoint import CARD_NAME, preprocessing_length, read_config
from tshub.hub.errors import HubError
from tshub.hub.ids import as_model_id, hub_namespace
from tshub.hub.remote import PushRefused, hub_endpoint, push_folder, snapshot_commit
from tshub.hub.resolution import pull, resolve
from tshub.hub.store import HUB_ONLY, find_local, list_pretrained, stores, training_status, unusable_reason
from tshub.recommender.errors import RecommendError
from tshub.tables import format_table
from tshub.training.recipes import AUTO, AUTO_UCR_MAX_TRAIN, recipe_names
from tshub.training.search import SEARCHES

if TYPE_CHECKING:
    from tshub.models.base import TimeSeriesModel

#: Entry-point group through which installed packages add subcommands (pyproject: [project.entry-points]).
COMMAND_GROUP = "tshub.commands"
LIST_COLUMNS = ("id", "domain", "test", "ref.", "training", "size")


class UsageError(ValueError):
    """Arguments a command cannot run with together; ``main`` prints it as one error line, not a traceback."""


def main(argv: Sequence[str] | None = None, *, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command (of ``parser``, default every command); user errors print one ``tshub: error:`` message
    and exit 1."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    parser = _running_command(parser, args)  # the library's words said in this command's flags, no other's
    args.parser = parser  # a command saying the library's words in its own (in_cli_terms) needs it
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        with warnings.catch_warnings():  # Python's own display is back after the command
            warnings.showwarning = _warning_printer(parser)
            return args.run(args)
    except (HubError, DatasetError, UsageError, RecommendError) as err:
        print(f"tshub: error: {in_cli_terms(str(err), parser)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader left early (`tshub list | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error flushing at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the broken pipe


def _warning_printer(parser: argparse.ArgumentParser) -> Callable[..., None]:
    """Warnings said as the errors are, ``tshub: warning: ...`` in the command line's terms, not as Python shows
    them (the file and line of tshub's code that warned, and that line of code); each once a command, though its
    trainings meet the same data one after another (Python's once-per-place forgets what it said whenever a library
    changes the warning filters)."""
    said: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        text = in_cli_terms(str(message), parser)
        if text not in said:
            said.add(text)
            print(f"tshub: warning: {text}", file=sys.stderr)

    return show


def in_cli_terms(message: str, parser: argparse.ArgumentParser) -> str:
    """``message`` with the Python arguments the library's advice names (``variable_length='pad'``, ``arch=``,
    ``time_limit_s``) said as the command line's flags (``--variable-length pad``, ``--arch``, ``--time-limit``).
    Only those forms: ``name=`` (with or without a value) and the bare ``*_s`` seconds arguments, never inside a
    path, a URL or quotes, nor with a double-quoted value (code to paste, ``df.pivot(index="id", ...)``); names no
    command takes are left as they are. Said as the flag's command line takes it: a flag that takes no value alone (``allow_self_transfer=True``: ``--allow-self-transfer``; a value no flag
    sets, such as ``False`` for a ``store_true`` one, stays in Python's terms), a list as the values one after
    another (``candidates=['A/fcn', 'B/fcn']``: ``--candidates A/fcn B/fcn``), a list that is a description
    (``candidates=[ids or folders]``) as the flag's usage (``--candidates ID [ID ...]``); where the message gave
    the flag beside the Python (``relative_target=True (--relative-target)``) it is said once."""
    actions = {
        action.dest: action for command in _commands(parser) for action in command._actions if action.option_strings
    }

    def say(match: re.Match[str]) -> str:
        name, assigned, value = match.group(1), match.group(2), match.group(3) or match.group(4)
        action = actions.get(name) if assigned else actions.get(name[: -len("_s")]) if name.endswith("_s") else None
        if action is None:
            return match.group(0)
        said = _as_flag(action, value, parser) if value else _option(action)
        return match.group(0) if said is None else said

    word = r"(?<![\w/\\.:?&'\-])([a-z][a-z0-9]*(?:_[a-z0-9]+)*)"
    # quoted or a list, a word, or none; never a double-quoted value: Python code the message quotes, which stays as is
    value = r"""=(?:('[^']*'|\[[^\[\]]*\])(?![\w'])|([\w.]*\w)?(?![\w/'"=\[-]|\.\w))"""  # a full stop ends it
    said = re.sub(word + rf"(?:({value})|(?![\w/'.=-]))", say, message)
    return re.sub(r"(?<![\w-])(--?[a-z][\w-]*(?: [^\s()]+)*) \(\1\)", r"\1", said)  # "x=1 (--x 1)": the flag once


def _option(action: argparse.Action, negative: bool = False) -> str:
    """The longest of ``action``'s option strings, of the ``--no-...`` ones when ``negative`` (where it has both)."""
    return max(
        [o for o in action.option_strings if o.startswith("--no-") == negative] or action.option_strings, key=len
    )


#: What ``_as_flag`` reads a value as that is no Python literal: a word standing for one (pad), or a description.
_WORDS = object()
#: The flags that say a Python None: no flag's value does (``--label-column None`` names a column 'None').
_NONE_FLAGS = {"label_column": "--no-labels"}


def _as_flag(action: argparse.Action, value: str, parser: argparse.ArgumentParser) -> str | None:
    """The command line's words for ``action`` given the value ``value`` in Python; None when no flag says it."""
    try:
        literal: Any = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        literal = _WORDS
    if literal is None:
        return _NONE_FLAGS.get(action.dest)
    if action.nargs == 0:  # a flag: being there sets its value, which must be the one given
        if isinstance(action, argparse.BooleanOptionalAction):
            return _option(action, negative=literal is False) if isinstance(literal, bool) else None
        sets = literal is not _WORDS and type(literal) is type(action.const) and literal == action.const
        return _option(action) if sets else None
    if value.startswith("["):
        if not (action.nargs in ("+", "*") or isinstance(action.nargs, int) and action.nargs > 1):
            return None  # a list where the command line takes one value
        if literal is _WORDS:  # "[ids or folders]": the flag's usage says what goes there
            return f"{_option(action)} {parser._get_formatter()._format_args(action, action.dest.upper())}"
        return " ".join([_option(action), *(shlex.quote(str(item)) for item in literal)])
    return f"{_option(action)} {shlex.quote(value.strip(chr(39)))}"


def _running_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The subcommand's parser whose command ``args`` runs (``parser`` itself when none is found)."""
    return next((command for command in _commands(parser)[1:] if command.get_default("run") is args.run), parser)


def _commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser, *(command for sub in subparsers for command in sub.choices.values())]


def build_parser(
    commands: Sequence[Callable[[argparse._SubParsersAction], None]] | None = None,
) -> argparse.ArgumentParser:
    """The ``tshub`` parser with ``commands`` (default: tshub's own and every plugin's)."""
    parser = argparse.ArgumentParser(prog="tshub", description="Pretrained deep models for time series.")
    parser.add_argument("--version", action="version", version=f"tshub {tshub.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in [*COMMANDS, *plugin_commands()] if commands is None else commands:
        add(subparsers)
    return parser


# ---------------------------------------------------------------------------------------------------- list
def _add_list(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("list", help="list the checkpoints of the local stores and zoo index")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(run=_run_list)


def _run_list(args: argparse.Namespace) -> int:
    rows = list_pretrained()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        looked = "\n".join(f"  - {store}" for store in stores())
        print(
            f"no checkpoints found in:\n{looked}\nFetch one with `tshub pull ID` or build the zoo with "
            "scripts/publish.",
            file=sys.stderr,
        )
        return 0
    cells = [_list_cells(row) for row in rows]
    print(format_table(cells, LIST_COLUMNS))
    notes = [LIST_NOTES["!"]] if any(row[4].endswith(" !") for row in cells) else []
    notes += [LIST_NOTES["*"]] if any(row[3].endswith(" *") for row in cells) else []
    notes += [LIST_NOTES["hub"]] if any(row[5] == "hub" for row in cells) else []
    if notes:
        print("\n" + "\n".join(notes))
    return 0


#: Footnotes of the marks in `tshub list` cells.
LIST_NOTES = {
    "!": "! not offered as a source by the recommender (it learned nothing): see `tshub info ID`",
    "*": "* reference measured on another test split than the checkpoint's metrics (`tshub info ID`): not comparable",
    "hub": "hub: listed by a store's index, downloaded on first use (`tshub pull ID`)",
}


def _count(n: int | None) -> str:
    return "?" if n is None else f"{n:,}"


def _size(n: int | None) -> str:
    return "size unknown" if n is None else human_size(n)


def _list_cells(row: dict[str, Any]) -> list[str]:
    """One `tshub list` row: id, domain, test metric beside its reference, how training ended, size or "hub"."""
    short = {"Accuracy": "acc", "MAE": "mae"}
    metric = f"{short.get(row['metric'], row['metric'])} {row['metric_value']:.4f}" if row.get("metric") else "-"
    reference = f"{row['reference_value']:.4f}" if row.get("reference_value") is not None else "-"
    reference += " *" if row.get("reference_on_other_split") and row.get("reference_value") is not None else ""
    training = (row.get("training") or "-") + (" !" if row.get("unusable") else "")
    size = "hub" if row.get("location") == HUB_ONLY else human_size(row["size_bytes"]) if row.get("size_bytes") else "-"
    return [row["id"], row.get("domain") or "-", metric, reference, training, size]


# ---------------------------------------------------------------------------------------------------- pull
def _add_pull(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("pull", help="download a checkpoint from the Hugging Face Hub into the home store")
    p.add_argument("id", help="model id '<SOURCE>/<arch>' (e.g. LEN-DB/magnet) or a Hub repo id")
    p.add_argument("--revision", help="Hub branch, tag or commit")
    p.set_defaults(run=_run_pull)


def _run_pull(args: argparse.Namespace) -> int:
    print(pull(args.id, revision=args.revision))
    return 0


# ---------------------------------------------------------------------------------------------------- push
def _add_push(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "push",
        help="publish local checkpoints to a Hub ($HF_ENDPOINT: the Hugging Face Hub or a `tshub serve`)",
        description="Uploads each checkpoint as one commit to <namespace>/<SOURCE>-<arch> "
        "(creating the repo), with the token of $HF_TOKEN or `hf auth login`. "
        "Unchanged checkpoints make no new commit.",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="model ids of the local stores, or checkpoint folders")
    p.add_argument("--all", action="store_true", help="every checkpoint of the local stores (see `tshub list`)")
    p.add_argument("--repo-id", help="the Hub repo of a single checkpoint (default <namespace>/<SOURCE>-<arch>)")
    p.add_argument("--namespace", help=f"Hub user or organisation (default {hub_namespace()!r}, $TSHUB_NAMESPACE)")
    p.add_argument("--private", action="store_true", help="create missing repos private (visible to your token only)")
    p.add_argument("--message", default="Upload tshub checkpoint", help="the commit message")
    p.set_defaults(run=_run_push)


def _run_push(args: argparse.Namespace) -> int:
    if args.all == bool(args.ids) or (args.repo_id and (args.all or len(args.ids) != 1)):
        raise HubError("push names checkpoints (IDs or folders) or --all, not both; --repo-id goes with one ID.")
    names = [row["id"] for row in list_pretrained() if row.get("location") != HUB_ONLY] if args.all else args.ids
    failed = 0
    for name in names:
        try:
            folder, repo_id = _push_target(name, args.repo_id, args.namespace)
        except HubError as err:  # report it, push the others
            failed += 1
            print(f"{name}: push FAILED: {err}", file=sys.stderr)
            continue
        try:
            url = push_folder(folder, repo_id, private=args.private or None, commit_message=args.message)
        except PushRefused as err:  # offline or no token: no other checkpoint would go either
            print(f"{name}: push FAILED: {err}", file=sys.stderr)
            return 1
        except HubError as err:  # it names the repo and the Hub; report it, push the others
            failed += 1
            print(f"{name}: push FAILED: {err}", file=sys.stderr)
            continue
        except (HfHubHTTPError, httpx2.HTTPError, OSError, ValueError) as err:  # the Hub's refusal (403, ...)
            failed += 1
            print(f"{name}: push to {repo_id} at {hub_endpoint()} FAILED: {err}", file=sys.stderr)
            continue
        print(f"{name} -> {repo_id}: {url}")
    return 1 if failed else 0


def _push_target(name: str, repo_id: str | None, namespace: str | None) -> tuple[Path, str]:
    """The local checkpoint folder ``name`` refers to and the Hub repo it goes to."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        model_id = as_model_id(str(read_config(folder).get("id") or ""))
    else:
        model_id = as_model_id(name)
        found = find_local(model_id) if model_id else None
        if found is None:
            raise HubError(
                f"{name!r} is neither a checkpoint folder nor a model id of the local stores (see `tshub list`)."
            )
        folder = found
    if repo_id:
        return folder, repo_id
    if model_id is None:
        raise HubError(f"{folder}: its config.json names no model id; pass --repo-id NAMESPACE/NAME.")
    return folder, model_id.repo_id(namespace)


# ---------------------------------------------------------------------------------------------------- info
def _add_info(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("info", help="describe a checkpoint (fetched from the Hub when not local)")
    p.add_argument("id", help="model id, Hub repo id or checkpoint folder")
    p.add_argument("--revision", help="Hub branch, tag or commit")
    p.add_argument("--json", action="store_true", help="print config.json and the location")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    folder = resolve(args.id, revision=args.revision)
    config = read_config(folder)
    if args.json:
        print(json.dumps({"location": str(folder), "revision": snapshot_commit(folder), **config}, indent=2))
        return 0
    print(format_table([[k, v] for k, v in describe(config, folder)], ("field", "value")))
    return 0


def _metric_list(metrics: dict[str, Any]) -> str:
    """ "Accuracy 0.9733, F1 (weighted) 0.9733": a checkpoint's metrics and its reference's, printed alike."""
    return ", ".join(
        f"{METRIC_NAMES.get(k, (k, k))[1]} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float))
    )


def describe(config: dict[str, Any], folder: Path) -> list[tuple[str, str]]:
    """The human summary of a checkpoint that ``tshub info`` prints."""
    source = source_info(config)
    kwargs = ", ".join(f"{k}={v}" for k, v in (config.get("arch_kwargs") or {}).items())
    classes = config.get("classes")
    length = config.get("input_length")
    metrics = _metric_list(config.get("metrics") or {})
    reference = r if isinstance(r := config.get("reference"), dict) else {}
    reference_metrics = _metric_list(reference.get("metrics") or {})
    commit = snapshot_commit(folder)
    return [
        ("id", config.get("id") or "-"),
        ("location", str(folder)),
        ("revision", f"{commit} (Hub commit)" if commit else "- (local folder)"),
        ("arch", f"{config['arch']} ({kwargs})" if kwargs else config["arch"]),
        (
            "input",
            f"{config['in_channels']} channel(s), "
            + (
                f"length {length}"
                if length
                else f"{fixed} steps (its preprocessing's mask is per time step)"
                if (fixed := preprocessing_length(folder))
                else "any length"
            )
            + (", uses stream_max" if config.get("use_stream_max") else "")
            + "".join(f"; {w}" for w in input_form(config.get("meta") or {})),
        ),
        ("task", (config.get("task") or "-") + (f", {len(classes)} classes" if classes else "")),
        ("preprocessing", (config.get("preprocessing") or {}).get("kind", "none")),
        ("source", source["name"] + (f" ({source['domain']})" if source.get("domain") else "")),
        ("citation", str(source.get("citation", "-")).replace("\n", " ")),
        ("recipe", str(config.get("recipe") or "-")),
        ("metrics (test)", metrics or "-"),
        ("reference", f"{reference.get('name', 'published')}: {reference_metrics}" if reference_metrics else "-"),
        *_naive_rows(config.get("metrics") or {}, naive_test_metrics(config)),
        ("training", _training_line(config)),
        ("parent", (parent_words(config) or "-").replace("`", "")),
        (
            "parameters",
            f"{_count(config.get('n_parameters'))} ({_size(config.get('size_bytes'))}, {config.get('dtype', 'float32')})",
        ),
        (
            "format",
            f"{config['format_version']} (tshub {config.get('tshub_version', '?')}), sha256 {config['weights_sha256']}",
        ),
        ("card", str(folder / CARD_NAME)),
    ]


def _naive_rows(metrics: dict[str, Any], naive: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """A regression's naive forecasts, what it must beat, and whether it beats each (none for a classifier)."""
    if not naive:
        return []
    shown = "; ".join(f"{NAIVE_COLUMNS[key][0].lower()}: {_metric_list(scores)}" for key, scores in naive.items())
    verdicts = naive_verdicts(metrics, naive)
    return [("naive (test)", shown)] + ([("vs naive", " ".join(verdicts))] if verdicts else [])


def _training_line(config: dict[str, Any]) -> str:
    meta = config.get("meta") or {}
    status = training_status(config)
    if status is None:
        return "-"
    line = f"{status} after {meta.get('epochs', '?')} epochs (weights of epoch {meta.get('best_epoch', '?')})"
    unusable = unusable_reason(config)
    return line + (f"; not offered as a source: {unusable}" if unusable else "")


# ---------------------------------------------------------------------------------------------------- finetune
def _add_finetune(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("finetune", help="fine-tune a checkpoint on a dataset and save the result")
    p.add_argument("id", help="model id, Hub repo id or checkpoint folder of the source model")
    p.add_argument("data", help="catalogue dataset name (e.g. Coffee) or a data file; a file is training data")
    _add_data_arguments(p, splits=True)
    p.add_argument(
        "--lr-multiplier",
        type=parse_lr_multiplier,
        help="ω for the transferred layers: 'grid' (chosen on validation, the default), a number, or a comma list; "
        "with --freeze-backbone one number, default 1",
    )
    p.add_argument(
        "--search",
        default="halving",
        choices=SEARCHES,
        help="with several ω: successive halving on validation (default) or every ω to the end",
    )
    p.add_argument(
        "--freeze-backbone",
        action="store_true",
        help="keep the backbone's layers copied from the source as they are; the head, re-initialised layers, an "
        "input layer adapted to another channel count and the branches beside the backbone (MagNet's and "
        "MLSTM-FCN's LSTM) train",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also train the architecture from scratch (same recipe, seed, splits and preprocessing) and fit "
        "MiniRocket (a ridge classifier or regressor) on the same training split; compare all three",
    )
    p.add_argument(
        "--relative-target",
        action=argparse.BooleanOptionalAction,
        help="regression: learn each target in its series' normalised space (or, with --no-relative-target, "
        "standardised); default: relative exactly when the training targets follow their series' level (a forecast "
        "of the next value), whatever the source learned",
    )
    p.add_argument(
        "--stream-max",
        dest="use_stream_max",  # the library's word, so that its messages are said as this flag
        action=argparse.BooleanOptionalAction,
        help="give the model Otović's raw per-series maximum as an input (default: as the source, but not beside a "
        "relative target); "
        "--no-stream-max drops it, which data in other units than the source's need",
    )
    add_recipe_argument(p)
    add_threads_argument(p)
    p.add_argument("--max-epochs", type=parse_count, help="cap on epochs per ω")
    p.add_argument("--time-budget", type=parse_seconds, metavar="SECONDS", help="seconds for the whole fine-tune")
    p.add_argument("--seed", type=parse_seed, default=0)
    p.add_argument("--device", type=parse_device, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--out", type=Path, help="folder to save the fine-tuned checkpoint in")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_run_finetune)


def _run_finetune(args: argparse.Namespace) -> int:
    from tshub.data.preprocess import make_preprocessor
    from tshub.data.splits import training_splits
    from tshub.hub.checkpoint import check_checkpoint_folder
    from tshub.hub.resolution import load_resolved, resolve
    from tshub.recommender.advice import compare
    from tshub.recommender.candidates import self_transfer_reason
    from tshub.training import finetune, train_referent

    if args.out:  # refused now, not after the fine-tune: a file there (the save would refuse it too), no write access
        check_checkpoint_folder(args.out)
        check_output_path(args.out, "--out", makes_folders=True)
    lr_multiplier = _lr_multiplier(args)
    source = resolve(args.id)
    if args.out and Path(args.out).resolve() == source.resolve():
        raise UsageError(
            f"--out {args.out} is the checkpoint it fine-tunes ({args.id}): saving there would replace the source; "
            "choose another folder."
        )
    model = load_resolved(args.id, source)  # by its name, which its fine-tune records as its parent
    kind = model.preprocessor.kind if model.preprocessor is not None else "znorm"
    if args.use_stream_max and not make_preprocessor(kind).uses_stream_max:  # the fine-tune keeps the source's
        raise UsageError(
            f"--stream-max gives the model each series' raw maximum, which {args.id}'s preprocessing {kind!r} does not "
            "produce (only 'minmax_mask' does): drop --stream-max."
        )
    data = load_data(args)
    if args.relative_target and data.task != "regression":  # the fine-tune's own check comes after preprocessing
        raise UsageError(
            f"--relative-target maps regression targets into each series' scale, but {data.name} is a {data.task} "
            "dataset: drop --relative-target."
        )
    if args.test_fraction and "test" in data.splits:
        raise UsageError(
            f"--test-fraction holds a test split out of data without one, but {args.data!r} has its own "
            f"({', '.join(data.splits)}): drop --test-fraction (--test-file and catalogue datasets bring a test split)."
        )
    data, notes = training_splits(
        data,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        seed=args.split_seed,
        validation=args.validation,
        split_order=args.split_order,
    )
    for note in notes if not args.json else ():
        print(f"{data.name}: {in_cli_terms(note, args.parser)}", file=sys.stderr)
    # the fine-tune and its referent share every setting, so that they differ only by the pretrained start
    shared = {
        "seed": args.seed,
        "recipe": args.recipe,
        "max_epochs": args.max_epochs,
        "time_budget_s": args.time_budget,
        "device": args.device,
        "validation": args.validation,
        "relative_target": args.relative_target,
        "use_stream_max": args.use_stream_max,
    }
    result = finetune(
        model,
        data,
        lr_multiplier=lr_multiplier,
        search=args.search,
        freeze_backbone=args.freeze_backbone,
        **shared,
    )
    scratch = train_referent(model, data, **shared) if args.baseline else None
    rocket, why_not = (
        minirocket_if_possible(data, seed=args.seed, validation=args.validation) if args.baseline else (None, None)
    )
    if why_not:
        print(f"{data.name}: MiniRocket skipped: {why_not}", file=sys.stderr)
    if scratch is not None:
        result.record_comparison(scratch, rocket)
    if why := result.learned_nothing:
        warnings.warn(
            f"the fine-tuned model learned nothing usable: {why}; train longer (max_epochs=), try another ω or "
            "source, or check that the labels belong to the series.",
            stacklevel=1,
        )
    saved = result.model.save_pretrained(args.out) if args.out else None
    summary = {
        "source": args.id,
        "target": data.name,
        "splits": data.split_sizes,
        "lr_multiplier": result.lr_multiplier,
        "metrics": result.metrics,
        "val_metrics": result.val_metrics,
        "saved": str(saved) if saved else None,
    }
    naive = result.model.meta.get("naive") or {}
    if naive:  # a regression: the forecasts its scores mean nothing without
        summary["naive"] = naive
    if scratch is not None:
        summary["baseline"] = {"metrics": scratch.metrics, "val_metrics": scratch.val_metrics}
    if rocket is not None:
        summary["minirocket"] = rocket.summary()
    verdicts = compare(
        result.metrics,
        None if scratch is None else scratch.metrics,
        None if rocket is None else rocket.metrics,
        naive,
        task=result.task,
    )
    if verdicts:
        summary["verdicts"] = [v.to_dict() for v in verdicts]
    no_transfer = self_transfer_reason(args.id, data)
    if no_transfer:  # what recommend leaves out: the verdicts compare the model with itself, more or less
        summary["self_transfer"] = no_transfer
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    chosen = ", chosen on validation" if isinstance(lr_multiplier, (str, list)) else ""
    print(f"fine-tuned {args.id} on {data.name} (ω = {result.lr_multiplier:g}{chosen})")
    _print_splits(summary)
    if scratch is not None:
        print(f"{model.arch} from scratch on {data.name} (same recipe, seed, splits and preprocessing)")
        _print_splits(summary["baseline"])
    if rocket is not None:
        print(
            f"MiniRocket on {data.name} (fitted on the same training split; tshub.baselines, {rocket.elapsed_s:.1f} s)"
        )
        _print_splits(summary["minirocket"])
    for name, scores in naive.items():
        print(f"naive forecast on the same splits: {NAIVE_COLUMNS[name][1]}")
        _print_splits(scores)
    for line in dict.fromkeys(v.line() for v in verdicts):  # "no test split, so no verdict" once, not per baseline
        print(line)
    if no_transfer:
        print(f"note: no transfer: {args.id} was {no_transfer}; these figures measure no transfer to {data.name}.")
    if saved:
        print(f"  saved to {saved}")
    return 0


def _print_splits(summary: dict[str, Any]) -> None:
    for split in ("metrics", "val_metrics"):
        shown = _metric_list(summary[split])
        print(
            f"  {'test' if split == 'metrics' else 'validation'}: "
            f"{shown or '- (no test split: pass --test-file or --test-fraction)'}"
        )


def _add_data_arguments(p: argparse.ArgumentParser, splits: bool) -> None:
    """Reader options for a data file and, with ``splits``, a test file and the splits carved from training data."""
    from tshub.data.readers import DEFAULT_LABEL_COLUMN, MISSING, VARIABLE_LENGTH
    from tshub.data.readers.base import label_column_from_text

    group = p.add_argument_group("data files")
    if splits:
        group.add_argument(
            "--test-file",
            help="a file of test series (same format); without it the data has no "
            "test split unless --test-fraction holds one out",
        )
        group.add_argument(
            "--val-fraction",
            type=parse_val_fraction,
            default=0.2,
            help="share of the training series carved as validation when the data has none (stratified, or in time "
            "order: --split-order; default 0.2)",
        )
        group.add_argument(
            "--test-fraction",
            type=parse_test_fraction,
            default=0.0,
            help="share of a file without splits held out as test (stratified, or in time order: --split-order; "
            "default 0)",
        )
        group.add_argument("--split-seed", type=parse_seed, default=0, help="seed of the carved splits (default 0)")
        group.add_argument(
            "--validation",
            choices=VALIDATIONS,
            default="split",
            help="split (default): select the weights and stop on the validation split carved above; train: train on "
            "every training series and select on them (on 13 small UCR sets it fine-tuned to 0.922 against 0.908, "
            "22 wins, 7 ties, 10 losses; bench/results/ucr_full_train_finetune.md)",
        )
        group.add_argument(
            "--split-order",
            choices=SPLIT_ORDERS,
            default="auto",
            help="how the validation and test splits above are carved: auto (default): chronological blocks, each "
            "after a purged gap so that no held-out window shares a time step with a training one, when the rows are "
            "sliding windows of a series (of several one after another: the end of each), else stratified at "
            "random; time: chronological blocks (rows in time order; windows normalised one by one are found up to "
            "scale and purged too); random: stratified at random even for "
            "windows (whose scores that flatters)",
        )
    group.add_argument(
        "--label-column",
        type=label_column_from_text,
        default=DEFAULT_LABEL_COLUMN,
        help="column of the labels in .tsv/.txt/.csv files: index (negative from the end) or a CSV "
        "header name (default 0; left out, a header naming another column label, class, target, ... is refused)",
    )
    group.add_argument("--task", choices=("classification", "regression"), help="default: inferred from the labels")
    group.add_argument(
        "--delimiter",
        help="field separator of a .csv file (default: detected: ',', ';' whose numbers may have decimal commas, or "
        "a tab)",
    )
    group.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        help="whether a .csv file's first row names the columns (default: detected)",
    )
    group.add_argument(
        "--variable-length",
        choices=VARIABLE_LENGTH,
        help="series of unequal length (ragged rows, NaN padding): truncate to the shortest, pad "
        "(repeat the last value) or resample to the longest (default: error; predict: as the model's training series "
        "were)",
    )
    group.add_argument("--missing", choices=MISSING, default="error", help="gaps inside series (default: error)")


def load_data(args: argparse.Namespace, *, lengths_because: str = "") -> Dataset:
    """The dataset ``args.data`` names: a data file (with ``--test-file`` as its test split) or a catalogue name;
    ``lengths_because`` is added to the line saying how unequal lengths were equalised (why that way)."""
    from tshub.data.catalogue import load
    from tshub.data.readers import DEFAULT_LABEL_COLUMN, read_file, read_split_files

    options = {
        "label_column": args.label_column,
        "task": args.task,
        "variable_length": args.variable_length or "error",
        "missing": args.missing,
        **{name: value for name in ("delimiter", "header") if (value := getattr(args, name, None)) is not None},
    }
    test_file = getattr(args, "test_file", None)
    if Path(args.data).is_file():
        data = (
            read_split_files({"train": args.data, "test": test_file}, **options)
            if test_file
            else read_file(args.data, **options)
        )
        _say_what_reading_changed(data, lengths_because)
        return data
    if test_file:
        raise DatasetError(
            f"--test-file goes with a data file, but {args.data!r} is not a file (a catalogue "
            "dataset brings its own test split)."
        )
    given = [
        flag
        for flag, value in (
            ("--label-column", None if args.label_column is DEFAULT_LABEL_COLUMN else args.label_column),
            ("--delimiter", getattr(args, "delimiter", None)),
            ("--header/--no-header", getattr(args, "header", None)),
        )
        if value is not None
    ]
    if given:  # a catalogue set is read as the catalogue reads it: these would be ignored
        raise DatasetError(
            f"{', '.join(given)} read a data file, but {args.data!r} is not a file: it is the catalogue's dataset, "
            f"read as the catalogue reads it; drop {'it' if len(given) == 1 else 'them'}, or give a file's path."
        )
    return load(args.data)


def _say_what_reading_changed(data: Dataset, lengths_because: str = "") -> None:
    """The gaps --missing filled and the lengths --variable-length equalised: asked for by a flag, unseen otherwise."""
    if filled := data.meta.get("missing_values_filled"):
        print(f"{data.name}: {filled['count']} missing values filled by {filled['method']}", file=sys.stderr)
    if lengths := data.meta.get("variable_length"):
        print(f"{data.name}: {equalised_words(lengths)}{lengths_because}", file=sys.stderr)


def add_recipe_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe",
        default=AUTO,
        choices=recipe_names(),
        help=f"training recipe (default {AUTO}: ucr up to {AUTO_UCR_MAX_TRAIN} training series, else default)",
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=parse_count,
        help="torch threads (default: one per core); where other work holds cores, give the idle ones: a thread "
        "sharing a busy core stalls every step (bench/results/train_threads.md)",
    )


def _lr_multiplier(args: argparse.Namespace) -> str | float | list[float]:
    """The ω of ``finetune``: the grid by default; a frozen backbone trains nothing at ω × lr, so one value, 1."""
    if not args.freeze_backbone:
        return "grid" if args.lr_multiplier is None else args.lr_multiplier
    if isinstance(args.lr_multiplier, (str, list)):
        raise UsageError(
            "--freeze-backbone keeps the backbone's copied layers as they are, so ω has no effect and there is none to "
            "choose: give one --lr-multiplier value, or none."
        )
    return 1.0 if args.lr_multiplier is None else args.lr_multiplier


def parse_lr_multiplier(text: str) -> str | float | list[float]:
    """'grid', one number, or a comma-separated list of numbers, each > 0 as the service takes them (the library
    also takes ω = 0: the transferred weights do not train, though their BatchNorm statistics still follow the
    target's batches; --freeze-backbone keeps those too)."""
    from tshub.training.finetuning import lr_multipliers

    if text == "grid":
        return text
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'grid', a number or numbers separated by commas, got {text!r}"
        ) from None
    try:
        lr_multipliers(values)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if 0 in values:
        raise argparse.ArgumentTypeError(
            "ω must be > 0, got 0 (it would train none of the transferred layers: --freeze-backbone keeps the "
            "backbone as it is and trains the new head)"
        )
    return values[0] if len(values) == 1 else values


def parse_count(text: str) -> int:
    """A whole number >= 1 (epochs, sources to show): 0 does nothing, which the library refuses only after loading
    everything."""
    return _number(text, int, lambda n: n >= 1, "a whole number >= 1")


def parse_seed(text: str) -> int:
    """A whole number >= 0, the seeds the service takes."""
    return _number(text, int, lambda n: n >= 0, "a whole number >= 0")


def parse_epoch_cap(text: str) -> int:
    """A whole number >= 0, 0 meaning the recipe's own cap: a negative one failed in the recipe, after the ranking."""
    return _number(text, int, lambda n: n >= 0, "a whole number >= 0 (0: the recipe's)")


def parse_val_fraction(text: str) -> float:
    """A share strictly between 0 and 1: a validation split of none or of every series leaves nothing to train on
    or to select with."""
    return _number(text, float, lambda f: 0 < f < 1, "a number strictly between 0 and 1")


def parse_test_fraction(text: str) -> float:
    """A share in [0, 1): 0 holds no test split out; 1 would leave no training series."""
    return _number(text, float, lambda f: 0 <= f < 1, "a number in [0, 1)")


def parse_seconds(text: str) -> float:
    """A finite number of seconds > 0: a limit or budget of 0 or less leaves no time for any work."""
    return _number(text, float, lambda s: math.isfinite(s) and s > 0, "a number of seconds > 0")


def _number(text: str, convert: Callable[[str], Any], fits: Callable[[Any], bool], expected: str) -> Any:
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not fits(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def check_output_path(path: Path, flag: str, *, makes_folders: bool = False) -> None:
    """Refuse, before the work, an output path ``flag`` names that could not be written once the work is done: its
    folder must exist (or, where the writer ``makes_folders``, the nearest one above it) and take a new entry, as
    tried for real (permission bits do not tell: root ignores them, and /proc takes no new name from anyone)."""
    path = path.absolute()
    folder = path.parent
    if path.is_dir() and not makes_folders:
        raise UsageError(f"{flag} {path} is a folder; name a file in it.")
    if makes_folders:
        folder = next(p for p in (folder, *folder.parents) if p.exists())
    elif not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist; create it or choose another path.")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tshub-write-test-", dir=folder))
    except OSError as err:
        raise UsageError(f"{flag} {path}: cannot write in {folder} ({err.strerror}); choose another path.") from None


def parse_device(text: str) -> str:
    """A device torch can use here (``tshub.training.loop.resolve_device`` says why not)."""
    from tshub.training.loop import resolve_device

    try:
        resolve_device(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("device='cpu'", "--device cpu")) from None
    return text


# ---------------------------------------------------------------------------------------------------- predict
def _add_predict(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "predict", help="predict with a checkpoint (a fine-tuned one: --out of finetune) and score labelled data"
    )
    p.add_argument("id", help="model id, Hub repo id or checkpoint folder")
    p.add_argument(
        "data",
        help="a data file (every series; its labels, if any, are scored) or a catalogue dataset name (its test split)",
    )
    _add_data_arguments(p, splits=False)
    p.add_argument(
        "--no-labels",
        action="store_true",
        help="the file holds series only: no column is read as labels (by default --label-column's is, and scored)",
    )
    p.add_argument("--proba", action="store_true", help="classification: add each class's probability")
    p.add_argument("--head", help="the head of a multi-head checkpoint to predict with (e.g. UCR/convtimenet's)")
    p.add_argument("--out", type=Path, help="write the predictions (CSV) to this file instead of standard output")
    p.add_argument("--json", action="store_true", help="print predictions and scores as JSON")
    add_threads_argument(p)
    p.set_defaults(run=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
    """One CSV row per series (its id in the table, else its index in the data; the prediction, the label if any,
    probabilities if asked); the scores of labelled data go to standard error, so that standard output stays the
    table."""
    from tshub.data.readers import DEFAULT_LABEL_COLUMN
    from tshub.hub.resolution import load_pretrained
    from tshub.models.base import ModelInputError
    from tshub.training.metrics import task_metrics
    from tshub.training.naive import naive_scores

    if args.out:
        check_output_path(args.out, "--out")
    if args.no_labels and args.label_column is not DEFAULT_LABEL_COLUMN:
        raise UsageError("--no-labels reads no label column, but --label-column names one: give one of the two.")
    model = load_pretrained(args.id)
    _refuse_options_the_model_cannot_take(args, model)
    args.task = None if args.no_labels else model.task  # labels are read as the model's targets
    if args.no_labels:
        args.label_column = None
    learned = (model.meta.get("variable_length") or {}).get("method")
    as_trained = args.variable_length is None and learned is not None
    if as_trained:
        args.variable_length = learned
    because = f", as the model's training series were (--variable-length {learned}; pass it to choose otherwise)"
    data = load_data(args, lengths_because=because if as_trained else "").ordered_like(model.meta.get("channel_names"))
    split = "test" if "test" in data.splits else None
    X, _ = data.split(split) if split else (data.X, data.y)
    try:
        predicted = model.predict(X, head=args.head)
    except ModelInputError as err:  # series the model was not built for (channels), or an unknown head
        raise UsageError(str(err)) from None
    truth = None if args.no_labels or data.meta.get("unlabeled") else _true_labels(model, data, split, args.head)
    rows: dict[str, list[Any]] = {**_series_column(data, split), "prediction": predicted.tolist()}
    if truth is not None:
        rows["label"] = truth.tolist()
    if args.proba:
        proba = model.predict_proba(X, head=args.head)
        rows |= {
            f"p({label})": proba[:, k].astype(np.float64).round(6).tolist()
            for k, label in enumerate(_classes(model, args.head))
        }
    scores = None if truth is None else task_metrics(data.task, *_comparable(data.task, truth, predicted))
    # what a regression must beat, scored on the same series
    naive = naive_scores(model.meta.get("naive"), X, truth) if truth is not None and model.task == "regression" else {}
    where = data.name + (f" [{split}]" if split else "")
    seen = _seen_in_training(model, X, args.id)
    if seen:
        print(f"note: {seen}", file=sys.stderr)
    declared = data.meta.get("declared_task")
    if scores is not None and declared not in (None, model.task):
        print(
            f"note: the header of {where} declares {DECLARED_TARGETS[declared]}, but {args.id} does {model.task}: they "
            f"are scored as its {model.task} targets all the same (--no-labels leaves them unscored).",
            file=sys.stderr,
        )
    if args.json:
        scored = {"metrics": scores, **({"naive": naive} if naive else {}), **({"note": seen} if seen else {})}
        print(json.dumps({"model": args.id, "data": where, "n": len(X), **scored, **rows}, indent=2))
        if args.out:  # the JSON to stdout, the rows to the file asked for
            _write_rows(rows, args.out)
        return 0
    _write_rows(rows, args.out)
    said = f"{len(X)} series of {where} predicted by {args.id}"
    print(f"{said}: {_metric_list(scores)}" if scores else f"{said} (no labels to score)", file=sys.stderr)
    for name, naive_metrics in naive.items():
        shown = _metric_list(naive_metrics)
        print(f"naive forecast on the same series, {NAIVE_COLUMNS[name][0].lower()}: {shown}", file=sys.stderr)
    for line in naive_verdicts(scores or {}, naive, f"the {len(X)} series of {where}"):
        print(line, file=sys.stderr)
    return 0


DECLARED_TARGETS = {"classification": "class labels", "regression": "regression targets"}


def _series_column(data: Dataset, split: str | None) -> dict[str, list[Any]]:
    """The first column of ``predict``'s rows: the ids the table names its series by, under its id column's name
    (a long table's series column, a wide table's ``id``), else each series' index in the data (``series``)."""
    rows = data.splits[split] if split else np.arange(len(data.X))
    named = meta_of_rows(data.meta, rows).get("series_ids")
    if named is None:
        return {"series": list(range(len(rows)))}
    return {named["column"]: named["ids"]}


def _seen_in_training(model: TimeSeriesModel, X: np.ndarray, name: str) -> str | None:
    """What to say when the series scored are mostly the model's own training series (its ``train_fingerprint``
    holds them: a train-only catalogue set scored whole, a training file given again), or None."""
    from tshub.data.fingerprint import OVERLAP_THRESHOLD, overlap, series_hashes

    share = overlap(model.meta.get("train_fingerprint"), series_hashes(X))
    if share is None or share < OVERLAP_THRESHOLD:
        return None
    return (
        f"{share:.0%} of the series scored are among the series {name} was trained on: these are no test scores "
        "(score series it has not seen: a test split or file)."
    )


def _refuse_options_the_model_cannot_take(args: argparse.Namespace, model: TimeSeriesModel) -> None:
    """``predict``'s options that contradict the model (its task, its heads), said before any data is read."""
    from tshub.models.base import MultiHead

    if args.proba and model.task != "classification":
        raise UsageError(f"--proba gives class probabilities, but {args.id} does {model.task}: drop --proba.")
    if args.task not in (None, model.task):
        raise UsageError(f"--task {args.task}, but {args.id} does {model.task}: drop --task (the model's is used).")
    if isinstance(model.head, MultiHead) and args.head is None:
        raise UsageError(
            f"{args.id} has one head per source dataset ({', '.join(sorted(model.head.heads)[:5])}, ...): name the "
            "one to predict with, --head NAME (or fine-tune it, which gives it a single head)."
        )


def _true_labels(model: TimeSeriesModel, data: Dataset, split: str | None, head: str | None) -> np.ndarray:
    """The data's labels as the model's ``predict`` says them (a classifier's classes, or their number values), so
    the two compare; labels the model does not know are refused when none is known (the file's first column is then
    likely no label column at all), else kept and count as errors."""
    _, y = data.split(split) if split else (data.X, data.y)
    if data.task != "classification":
        _refuse_targets_of_another_width(model, y)
        return np.asarray(y, dtype=np.float64)
    classes = _classes(model, head)
    values = model.class_values if head is None and model.class_values is not None else classes
    known = {_label_key(c): v for c, v in zip(classes, values)}
    labels = np.asarray(data.classes, dtype=object)[y]
    unknown = sorted({str(label) for label in labels if _label_key(label) not in known})
    if len(unknown) == len(set(map(str, labels))):
        raise UsageError(
            f"none of the data's labels ({', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}) is one of the "
            f"model's classes ({', '.join(map(str, classes[:5]))}{' ...' if len(classes) > 5 else ''}): if the data "
            "has no labels, pass --no-labels; if they are in another column, name it with --label-column."
        )
    if unknown:
        print(f"labels the model does not know, counted as errors: {', '.join(unknown[:10])}", file=sys.stderr)
    return np.array([known.get(_label_key(label), str(label)) for label in labels], dtype=object)


def _refuse_targets_of_another_width(model: TimeSeriesModel, y: np.ndarray) -> None:
    """Refuse regression targets of another count per series than the model predicts (the scores failed on their
    shapes, in a traceback), saying what to do."""
    width = 1 if np.ndim(y) == 1 else int(np.shape(y)[1])
    if width != model.n_outputs:
        raise UsageError(
            f"the data has {width} target{'s' if width > 1 else ''} per series, but the model predicts "
            f"{model.n_outputs}: pass --no-labels to predict without scoring, or give the data its "
            f"{model.n_outputs} targets per series."
        )


def _comparable(task: str, truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as text for the scores: a label the model does not know stays text beside a model's
    number classes, which the weighted F1's sort cannot order together."""
    if task != "classification":
        return truth, predicted
    return np.array([_label_key(v) for v in truth]), np.array([_label_key(v) for v in predicted])


def _classes(model: TimeSeriesModel, head: str | None) -> list[str]:
    """The classes of a classifier's predictions, or of its ``head``'s."""
    return list((model.classes if head is None else model.meta.get("head_classes", {}).get(head)) or [])


def _label_key(label: Any) -> str:
    """A label as text, numbers by value ("1", "1.0" and 1 are one class)."""
    try:
        return repr(float(label))
    except (TypeError, ValueError):
        return str(label)


def _write_rows(rows: dict[str, list[Any]], out: Path | None) -> None:
    """The rows as CSV, a column of several outputs (a multi-output regression's) as one column per output,
    ``prediction[0]``, ``prediction[1]``, ...: a cell holding a list is of no use to a spreadsheet or pandas."""
    columns: dict[str, list[Any]] = {}
    for name, values in rows.items():
        if values and isinstance(values[0], list):
            columns |= {f"{name}[{k}]": [value[k] for value in values] for k in range(len(values[0]))}
        else:
            columns[name] = values
    with open(out, "w", newline="") if out else contextlib.nullcontext(sys.stdout) as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(zip(*columns.values()))


# ---------------------------------------------------------------------------------------------------- recommend
def _add_recommend(commands: argparse._SubParsersAction) -> None:
    from tshub.recommender import DEFAULT_METHOD, list_methods
    from tshub.recommender.methods import DEFAULT_PROBE_EPOCHS
    from tshub.recommender.sampling import STATISTICS

    p = commands.add_parser("recommend", help="rank source checkpoints for a dataset (transferability, DTW, probe)")
    p.add_argument(
        "data",
        help="catalogue dataset name (e.g. Coffee) or a data file; scored on its train split (a "
        "file is all training data)",
    )
    p.add_argument("-k", type=parse_count, default=5, help="how many sources to show (default 5)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=list_methods(), help=f"default {DEFAULT_METHOD}")
    p.add_argument("--arch", help="only checkpoints of this architecture")
    p.add_argument("--candidates", nargs="+", metavar="ID", help="rank these model ids / folders (default: all)")
    p.add_argument(
        "--allow-self-transfer",
        action="store_true",
        help="also rank checkpoints trained on the data's own series (left out by default)",
    )
    p.add_argument(
        "--index", type=Path, help="similarity index folder for --method dtw and dtw+logme (default zoo/similarity)"
    )
    p.add_argument(
        "--probe-epochs",
        type=parse_count,
        help=f"fine-tune epochs per candidate of --method probe (default {DEFAULT_PROBE_EPOCHS})",
    )
    p.add_argument(
        "--plan",
        choices=("fast", "full"),
        default="fast",
        help="logme/hscore: fast (a screen, in bf16 where the CPU computes it natively, then a float32 shortlist score "
        "on a bounded sample; default) or full (every candidate on every training series, float32)",
    )
    p.add_argument(
        "--statistics",
        choices=STATISTICS,
        default="source",
        help="logme/hscore: the BatchNorm statistics features are computed with, the source checkpoint's (default) or "
        "the data's own (what fine-tuning's first training steps normalise by)",
    )
    p.add_argument("--time-limit", type=parse_seconds, metavar="SECONDS", help="stop the ranking after this long")
    p.add_argument("--device", type=parse_device, help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="save the class prototypes of the target and the best sources to this image file",
    )
    p.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    _add_data_arguments(p, splits=False)
    p.set_defaults(run=_run_recommend)


def _run_recommend(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tshub.recommender import plot_prototypes, recommend
    from tshub.recommender.dtw import load_index
    from tshub.recommender.errors import RankedOtherwise
    from tshub.recommender.methods import NEEDS_INDEX
    from tshub.recommender.plot import unwritable_format
    from tshub.recommender.sampling import as_plan

    if args.plot:  # checked before the ranking, which a failed save would lose
        check_output_path(args.plot, "--plot")
        try:
            why = unwritable_format(args.plot)
        except ImportError as err:
            raise UsageError(f"--plot: {err}") from None
        if why:
            raise UsageError(f"--plot {args.plot.absolute()}: {why}.")
    if args.probe_epochs is not None and args.method != "probe":
        raise UsageError(
            f"--probe-epochs sets the fine-tunes of --method probe, but --method is {args.method}: drop it, or pass "
            "--method probe."
        )
    if args.index is not None and args.method not in NEEDS_INDEX and not args.plot:
        raise UsageError(
            f"--index is read by --method {' and '.join(sorted(NEEDS_INDEX))} (and --plot), but --method is "
            f"{args.method}: drop it, or pass one of those methods."
        )
    index = args.index
    if index is not None and args.method in NEEDS_INDEX:  # both named: no index is an error, not the default method
        index, why = load_index(index, args.method)
        if index is None:
            raise UsageError(f"{why}.")
    target = load_data(args) if Path(args.data).is_file() else args.data  # a name: the DTW index may know it
    plan = replace(as_plan(args.plan), statistics=args.statistics)
    with warnings.catch_warnings():
        if not args.json:  # the note printed above the table says it: once is enough
            warnings.simplefilter("ignore", RankedOtherwise)
        rec = recommend(  # its RecommendError reaches main, which says it in the command line's terms
            target,
            k=args.k,
            arch=args.arch,
            method=args.method,
            candidates=args.candidates,
            index=index,
            device=args.device,
            **({} if args.probe_epochs is None else {"probe_epochs": args.probe_epochs}),
            progress=not args.json,
            allow_self_transfer=args.allow_self_transfer,
            plan=plan,
            time_limit_s=args.time_limit,
        )
    if args.plot:
        plot_prototypes(rec, target, args.plot, index=index)
    print(json.dumps(rec.to_dict(), indent=2) if args.json else in_cli_terms(str(rec), args.parser))
    if args.plot and not args.json:
        print(f"prototypes plotted to {args.plot}")
    return 0


# ---------------------------------------------------------------------------------------------------- demo
def _add_demo(commands: argparse._SubParsersAction) -> None:
    from tshub.demo import DEFAULT_ARCH, DEFAULT_TARGET

    p = commands.add_parser("demo", help="the main job end to end: recommend a source, fine-tune, compare with scratch")
    p.add_argument("--target", default=DEFAULT_TARGET, help=f"catalogue dataset (default {DEFAULT_TARGET})")
    p.add_argument("--source", help="source model id (default: the recommender's first pick)")
    p.add_argument("--arch", help=f"architecture of the candidates (default {DEFAULT_ARCH}; not with --source)")
    p.add_argument("--seeds", type=parse_seed, nargs="+", default=[0], help="one run per seed and method (default 0)")
    add_recipe_argument(p)
    add_threads_argument(p)
    p.add_argument(
        "--max-epochs",
        type=parse_epoch_cap,
        default=200,
        help="cap the epochs of every training (default 200: a few CPU minutes; 0 = the recipe's)",
    )
    p.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from tshub.demo import DEFAULT_ARCH, run_demo

    if Path(args.target).is_file():
        raise UsageError(
            f"tshub demo runs on a catalogue dataset (see tshub.datasets.list_datasets()); its job on a file of yours "
            f"is two commands: `tshub recommend {args.target}`, then `tshub finetune ID {args.target} --test-file TEST "
            "--baseline` with the ID it recommends (the test file: series held out to compare on)."
        )
    if args.source and args.arch:
        raise UsageError(
            f"--arch chooses among the recommender's candidates, but --source names the model ({args.source}), whose "
            "architecture it is: drop one of the two."
        )
    run_demo(
        args.target,
        args.source,
        arch=args.arch or DEFAULT_ARCH,
        seeds=args.seeds,
        recipe=args.recipe,
        max_epochs=args.max_epochs or None,
    )
    return 0


# Subcommands in help order; other packages add theirs through the COMMAND_GROUP entry points.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_list,
    _add_pull,
    _add_push,
    _add_info,
    _add_finetune,
    _add_predict,
    _add_recommend,
    _add_demo,
]


def plugin_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """The ``add_<commands>(subparsers)`` functions other installed packages register under ``COMMAND_GROUP``
    (the fine-tune service's ``serve`` and ``token``: ``server.cli:add_server_commands``)."""
    return [entry_point.load() for entry_point in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name)]


if __name__ == "__main__":
    sys.exit(main())
