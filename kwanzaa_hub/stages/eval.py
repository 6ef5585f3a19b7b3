"""The ``eval`` stage: generate with the base model and the adapter, score, write the outputs.

:func:`run` reads as its phases: check the generation budget against the reference answers (before any
model loads) -> generate (base alone, then the adapter merged into it; free and/or held to the decoding schema)
-> one row per prompt and split (:mod:`kwanzaa_hub.contract.metrics.specs`: the reference, each run and each floor
under metric definitions 3) -> every figure aggregated from those rows: ``metrics.json`` (each run's headline and the
best floor's, ``floor.<metric>``), the DVC metrics (:data:`HEADLINE_FILES`), ``eval/details.json`` (every metric, per
category and split, with n), the rows, the plot data and ``reports/eval.json`` (budget, stop reasons, speed, the best
floors and, in words, where the served run does not beat one).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.base_model import check_declared
from kwanzaa_hub.config.params import Params
from kwanzaa_hub.console import console
from kwanzaa_hub.contract import distractors
from kwanzaa_hub.contract.metrics import registry, rows, suite
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.fs.atomic import all_or_nothing, atomic_write_json, atomic_write_text
from kwanzaa_hub.runtime import chat, speed
from kwanzaa_hub.runtime.generate import Generations

#: The DVC metrics (dvc.yaml), the headline a person compares (:func:`.rows.headline_views`); ``metrics.json`` keeps
#: every run's headline for the card and ``diff``. TODO(lead): a params key, if the folder should be configurable.
HEADLINE_FILES = {who: f"eval/headline/{who}.json" for who in ("served", "base", "floor")}
AUTO_MARGIN = 1.15  # eval.max_new_tokens: auto = longest reference answer x this, rounded up to a multiple of 64


# ------------------------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Budget:
    """The generation budget and the reference answers it has to fit."""

    max_new_tokens: int
    longest_reference: int
    auto: bool


def resolve_budget(max_new_tokens: int | str, answer_tokens: Sequence[int], *, allow_truncation: bool) -> Budget:
    """``eval.max_new_tokens`` as a number. ``auto`` leaves a margin over the longest reference answer; an
    explicit number below that answer is refused (the metrics would measure the budget, not the model)
    unless ``allow_truncation`` says it is intended."""
    longest = max(answer_tokens, default=0)
    if max_new_tokens == "auto":
        return Budget(max(64, math.ceil(longest * AUTO_MARGIN / 64) * 64), longest, True)
    if max_new_tokens < longest and not allow_truncation:
        raise InputError(
            f"eval.max_new_tokens: {max_new_tokens} is below the longest reference answer of the eval split "
            f"({longest} tokens): answers that long would be cut off and scored as the model's failure. Set "
            f"eval.max_new_tokens: auto (or at least {longest}), or eval.allow_truncation: true if a cut is intended."
        )
    return Budget(int(max_new_tokens), longest, False)


# ---------------------------------------------------------------------------------------- generate


def trained_revision(params: Params) -> str:
    """The revision a Hub base is loaded at: the commit the train stage resolved and trained on (``train.report``'s
    ``base_model.commit``), so a ``main`` that moved between train and eval cannot slip other weights under the
    adapter. ``model.revision`` when the report names no commit (a local base, a report that records none)."""
    path = Path(params.train.report)
    if not path.is_file():
        return params.model.revision
    trained = json.loads(path.read_text(encoding="utf-8")).get("base_model") or {}
    return trained.get("commit") or params.model.revision  # another base is refused first (check_trained_base)


def load_models(params: Params, adapter_dir: str) -> tuple[Any, Any, str]:
    """(base model, the adapter's tokenizer, device). GPU: half precision; CPU: float32, as trained. A Hub base
    loads at the commit it was trained on (:func:`trained_revision`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kwanzaa_hub.runtime.hardware import detect, plan
    from kwanzaa_hub.runtime.models import check_trained_base, from_pretrained
    from kwanzaa_hub.runtime.progress import no_loading_bars

    check_trained_base(params.model.base, params.model.revision, params.train.report)  # the base it was trained on
    p = plan(detect(), precision=params.train.precision, quantize=False)
    with no_loading_bars():  # the stage prints its own progress, per batch
        base = from_pretrained(
            AutoModelForCausalLM, params.model.base, trained_revision(params), dtype=getattr(torch, p.compute_dtype)
        )
    base.to("cuda" if p.device == "cuda" else "cpu")
    return base, AutoTokenizer.from_pretrained(adapter_dir), p.device


def load_schema(params: Params) -> dict[str, Any]:
    """The decoding schema the data stage wrote (``data.decoding_schema``)."""
    path = params.data.decoding_schema
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path} not found: run `dvc repro data` (the data stage writes the decoding schema)"
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc}); rerun `dvc repro data`") from None


def load_team_schema(path: str) -> dict[str, Any] | None:
    """The team's answer JSON Schema (``eval.team_schema``), checked to be a JSON Schema; None when not set."""
    if not path:
        return None
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
        validator_for(schema).check_schema(schema)
    except FileNotFoundError:
        raise InputError(f"eval.team_schema: {path} not found; give answer_json.schema.json's path, or ''") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"eval.team_schema: {path} is not JSON ({exc})") from None
    except SchemaError as exc:
        raise InputError(f"eval.team_schema: {path} is not a valid JSON Schema ({exc.message})") from None
    return schema


@dataclass(frozen=True)
class RequestSchemas:
    """One decoding schema per prompt, narrowed to its retrieved documents, and what building each cost (ms)."""

    schemas: list[dict[str, Any]]
    build_ms: list[float]


def request_schemas(
    schema: dict[str, Any], prompts: list, tokenizer: Any, *, refuse_uncited: bool = True
) -> RequestSchemas:
    """Each prompt's request schema (:func:`.request_schema.for_prompt`) for the decoding ``tokenizer``, timed
    (``refuse_uncited=False``: without cite-or-refuse, as bench/bench_cite_or_refuse.py measures it)."""
    import time

    from kwanzaa_hub.contract.request_schema import for_prompt

    schemas, ms, reserved = [], [], chat.special_token_texts(tokenizer)  # never pinned: the decoder cannot write them
    for p in prompts:
        start = time.perf_counter()
        schemas.append(for_prompt(schema, p[-1]["content"], reserved, refuse_uncited=refuse_uncited))
        ms.append((time.perf_counter() - start) * 1000)
    return RequestSchemas(schemas, ms)


def decodings(mode: str) -> list[str]:
    """``eval.decoding`` as the decodings to run, free first."""
    return list(registry.DECODINGS) if mode == "both" else [mode]


def generate_all(
    params: Params, prompts: list, budget: Budget, requests: RequestSchemas | None, split: str = "plain"
) -> dict[str, Generations]:
    """Greedy generations of the base model alone (when ``eval.baseline``) and of base + adapter, free and/or held
    to each prompt's request schema (``eval.decoding``), keyed by run name (``adapter``, ``adapter_constrained``,
    ...). The adapter is merged into the base weights before generating (one matmul per layer instead of three).
    Both decodings of a model run on the same prompts in the same batches, so their time per token compares."""
    from peft import PeftModel

    e = params.eval
    modes = decodings(e.decoding)
    schema = requests.schemas if requests is not None else None  # made only when a decoding is constrained
    base, tokenizer, device = load_models(params, params.train.output_dir)
    runs = (["base"] if e.baseline else []) + ["adapter"]
    console.print(
        f"eval ({split} split): {len(prompts)} prompts x {len(runs)} model(s) ({', '.join(runs)}) x {e.decoding} "
        f"decoding, greedy, batch {e.batch_size}, "
        f"max_new_tokens {budget.max_new_tokens}{' (auto)' if budget.auto else ''} for a longest reference answer "
        f"of {budget.longest_reference} tokens, on {device}"
    )
    out: dict[str, Generations] = {}
    for model_name in runs:
        model = (
            base
            if model_name == "base"
            else PeftModel.from_pretrained(base, params.train.output_dir).merge_and_unload()
        )
        for mode in modes:
            name = registry.run_name(model_name, mode)
            out[name] = _generate_run(
                params, model, tokenizer, prompts, budget, name, schema if mode != "free" else None
            )
    return out


def _generate_run(
    params: Params, model: Any, tokenizer: Any, prompts: list, budget: Budget, name: str, schema: list[dict] | None
) -> Generations:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from kwanzaa_hub.runtime.generate import generate

    e = params.eval
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} samples"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"generating ({name})", total=len(prompts), rate="")

        def show(done: int, toks: int, secs: float, task: Any = task, bar: Any = bar, name: str = name) -> None:
            rate = speed.rate_line(done, toks, secs)
            bar.update(task, completed=done, rate=rate)
            if not console.is_terminal:  # a log file gets a line per batch instead of a live bar
                console.print(f"eval: generating ({name}) {done}/{len(prompts)} samples, {rate}, {secs:.0f} s")

        return generate(
            model,
            tokenizer,
            prompts,
            chat_date=params.model.chat_date,
            max_new_tokens=budget.max_new_tokens,
            batch_size=e.batch_size,
            progress=show,
            schema=schema,
        )


# ------------------------------------------------------------------------------------------- score


@dataclass(frozen=True)
class Split:
    """One split of the eval: its prompts (system + user messages), their references and, for the distractor split,
    each prompt's mapping of the reference's document numbers to the new prompt's."""

    name: str
    prompts: list
    references: list[str]
    mappings: list[dict[str, int] | None] | None = None


def eval_splits(params: Params, ds: Any) -> list[Split]:
    """The splits the eval scores: the plain one as the data stage prepared it (``ds``, its eval split), then, unless
    ``eval.distractors`` is 0, the distractor split (:func:`kwanzaa_hub.contract.distractors.eval_split`)."""
    plain = Split("plain", ds["prompt"], [c[0]["content"] for c in ds["completion"]])
    k = params.eval.distractors
    if not k:
        return [plain]
    return [plain, Split("distractors", *distractors.eval_split(plain.prompts, plain.references, k, list(ds["id"])))]


def split_rows(
    split: Split,
    ids: list[str],
    categories: list[str],
    generations: dict[str, Generations],
    threshold: float,
    team_schema: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The rows of ``eval/predictions.jsonl`` for one split (format: :mod:`kwanzaa_hub.contract.metrics.specs`)."""
    return rows.split_rows(
        split=split.name,
        ids=ids,
        categories=categories,
        systems=[p[0]["content"] if len(p) > 1 else "" for p in split.prompts],
        users=[p[-1]["content"] for p in split.prompts],
        references=split.references,
        runs={name: rows.Run(g.texts, g.stop_reasons, g.token_counts) for name, g in generations.items()},
        mappings=split.mappings,
        threshold=threshold,
        team_schema=team_schema,
    )


# ------------------------------------------------------------------------------------------- write


def eval_report(budget: Budget, generations: dict[str, Generations], placeholders: dict[str, int]) -> dict[str, Any]:
    """``reports/eval.json``: the budget used, how each run's generations stopped, how many answers are
    placeholders, speed, and what constrained decoding costs against free decoding of the same batches, per model:
    ``constrained_cost`` (ms per generated token, constrained / free) and ``constrained_cost_per_step`` (ms per
    decoding step). The two differ when one decoding ends more rows early: a batch steps until its last row stops,
    so rows that finished still cost time and add no tokens; per step is what the mask itself costs."""
    report = {
        "max_new_tokens": budget.max_new_tokens,
        "max_new_tokens_auto": budget.auto,
        "longest_reference_tokens": budget.longest_reference,
        **{
            name: {**cost, "placeholder_answers": placeholders.get(name, 0)}
            for name, cost in speed.split_cost(generations).items()
        },
    }
    for key, per in (("constrained_cost", speed.ms_per_token), ("constrained_cost_per_step", speed.ms_per_step)):
        if ratios := speed.constrained_ratios(generations, per):
            report[key] = ratios
    return report


@dataclass
class EvalResult:
    metrics: dict[str, float]
    report: dict[str, Any]
    details: dict[str, Any] | None = None


def run(params: Params) -> EvalResult:
    """Generate, score and write the eval stage's outputs."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from kwanzaa_hub.contract.metrics import scoring
    from kwanzaa_hub.fs.ownership import claim, claim_all, without_machine_paths

    check_declared(params.model.base, "eval")  # a local base DVC does not follow stops here

    e = params.eval
    claim_all(params.outputs("eval"))  # every output is new or ours before a model loads
    for who, path in HEADLINE_FILES.items():
        claim(f"the eval's headline ({who})", path, "json", fields=registry.HEADLINE)
    ds = load_from_disk(params.data.prepared_dir, keep_in_memory=True)["eval"]
    budget = resolve_budget(e.max_new_tokens, ds["n_answer_tokens"], allow_truncation=e.allow_truncation)

    team_schema = load_team_schema(e.team_schema)  # a bad path fails before any model loads
    tok = AutoTokenizer.from_pretrained(params.train.output_dir)  # the adapter's: pinned values it can write as text
    splits = eval_splits(params, ds)
    plain = splits[0]
    constrained = "constrained" in decodings(e.decoding)
    requests = request_schemas(load_schema(params), plain.prompts, tok) if constrained else None
    ids, categories = list(ds["id"]), list(ds["category"])
    all_rows: list[dict[str, Any]] = []
    by_split: dict[str, dict[str, Any]] = {}
    generations: dict[str, Generations] = {}
    cost: dict[str, dict[str, Any]] = {}  # each split's generation cost per run: what the distractor split adds
    for split in splits:
        held = request_schemas(load_schema(params), split.prompts, tok) if requests and split is not plain else requests
        gens = generate_all(params, split.prompts, budget, held, split.name)
        generations = gens if split is plain else generations
        cost[split.name] = speed.split_cost(gens)
        part = split_rows(split, ids, categories, gens, e.grounding_threshold, team_schema)
        for row, prompt in zip(part, split.prompts, strict=True):  # as rows before definitions 3 had it
            row["prompt_sha256"] = hashlib.sha256(json.dumps(prompt, sort_keys=True).encode()).hexdigest()
        all_rows += part
        by_split[split.name] = rows.split_report(part)
    plain_rows = [r for r in all_rows if r["split"] == "plain"]
    runs = list(generations)
    metrics = rows.headline_metrics(plain_rows, runs)
    placeholders = {
        name: sum(placeholder_kind(scoring.answer_text(t)) is not None for t in g.texts)
        for name, g in generations.items()
    }
    report = eval_report(budget, generations, placeholders)
    report["base_model"] = {"name": without_machine_paths(params.model.base), "revision": trained_revision(params)}
    report["metric_definitions"] = suite.DEFINITIONS
    report["served_run"] = registry.served_run(runs)
    report["floors"] = {"best": by_split["plain"]["best_floor"], "verdicts": rows.floor_verdicts(plain_rows, runs)}
    report["n"] = by_split["plain"]["n"]
    report["splits"] = {
        name: {**{k: v for k, v in r.items() if k not in ("metrics", "n")}, "generation": cost[name]}
        for name, r in by_split.items()
    }
    if team_schema is not None:
        report["team_schema"] = {
            "path": without_machine_paths(e.team_schema),
            "sha256": hashlib.sha256(Path(e.team_schema).read_bytes()).hexdigest(),
        }
    if requests is not None:
        report["request_schema"] = speed.request_schema_cost(requests.build_ms, generations)
    details = {
        "metrics": by_split["plain"]["metrics"],
        "metric_definitions": suite.DEFINITIONS,
        "n": report["n"],
        "splits": by_split,
        "speed": {k: v for k, v in report.items() if k in generations},
    }

    plot = [
        {"metric": m, "model": name, "value": metrics[f"{name}.{m}"]}
        for m in registry.HEADLINE
        for name in [*generations, registry.FLOOR]
        if f"{name}.{m}" in metrics
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in all_rows]
    views = {HEADLINE_FILES[who]: v for who, v in rows.headline_views(plain_rows, runs).items()}
    with all_or_nothing(e.predictions_file, e.plot_file, e.metrics_file, e.report, e.details_file, *views):
        atomic_write_text(e.predictions_file, "\n".join(lines) + "\n")
        atomic_write_json(e.plot_file, plot)
        atomic_write_json(e.metrics_file, metrics)
        atomic_write_json(e.report, report)
        atomic_write_json(e.details_file, details)
        for path, view in views.items():  # atomic_write_json makes the folder
            atomic_write_json(path, view)
    return EvalResult(metrics, report, details)
