"""``kwanzaa-hub``: one command per pipeline stage plus tools around it.

Each command parses its arguments, loads params, calls one library function and prints a summary; the commands
live by job in the modules beside this one (``pipeline``, ``serving``, ``versions``, ``project``, ``devtools``), and
this module only registers them, in the order ``--help`` lists them, each with its one line for the command list and
one runnable example for its own ``--help`` (``ABOUT``); ``--version`` prints the installed version. Library errors
(``kwanzaa_hub.errors``) become a short message and exit code 2 (bad input) or 1
(:func:`kwanzaa_hub.cli.common.handled`). Heavy imports (torch, transformers, datasets) happen inside the commands
so ``--help`` is instant.
"""

from __future__ import annotations

import typer

from kwanzaa_hub.cli import devtools, pipeline, project, serving, versions

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help text and messages are plain text, never markup
    help="Turn a chat-format dataset into a versioned, evaluated QLoRA adapter on the Hub.",
    epilog="\b\nExample (the whole pipeline offline: no Hub, no GPU):\n  kwanzaa-hub demo",
)


def version() -> str:
    """The installed package's version (``pip install`` wrote it from pyproject.toml)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("kwanzaa-hub")
    except PackageNotFoundError:  # pragma: no cover - run from a folder that was never installed
        return "unknown (not installed: pip install -e .)"


def _print_version(value: bool) -> None:
    if value:
        from kwanzaa_hub.console import result

        result(f"kwanzaa-hub {version()}")
        raise typer.Exit()


@app.callback()
def _every_command(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:  # before any command: no library noise on the console (runtime/quiet.py)
    from kwanzaa_hub.runtime.quiet import quiet_libraries

    quiet_libraries()


COMMANDS = (
    ("data", pipeline.data),
    ("train", pipeline.train),
    ("eval", pipeline.eval_cmd),
    ("push", pipeline.push),
    ("preflight", project.preflight),
    ("set", project.set_cmd),
    ("pull", versions.pull),
    ("ask", serving.ask),
    ("schema", serving.schema_cmd),
    ("versions", versions.versions),
    ("diff", versions.diff),
    ("validate", project.validate),
    ("check-params", project.check_params),
    ("params-reference", project.params_reference),
    ("example-data", devtools.example_data_cmd),
    ("tiny-model", devtools.tiny_model),
    ("demo", devtools.demo),
)
#: Each command's line in the top-level ``--help`` (whole at 80 columns; the detail is the command's own ``--help``)
#: and one runnable example, shown at the end of its ``--help``. Repo names are the README's placeholder.
ABOUT = {
    "data": ("Stage data: validate, tokenize, write data/prepared.", "kwanzaa-hub data --params params.yaml"),
    "train": ("Stage train: QLoRA fine-tuning into models/adapter.", "kwanzaa-hub train"),
    "eval": ("Stage eval: generate, score, write metrics.json.", "kwanzaa-hub eval"),
    "push": ("Stage push: card, commit and tag hub.version.", "kwanzaa-hub push --params params.yaml"),
    "preflight": ("Check model access, hardware, token before a run.", "kwanzaa-hub preflight"),
    "set": (
        "Set params.yaml keys, keeping its comments.",
        "kwanzaa-hub set hub.repo_id=your-namespace/kwanzaa-adapter",
    ),
    "pull": (
        "Download a version, its hashes checked.",
        "kwanzaa-hub pull your-namespace/kwanzaa-adapter --version v1 --out pulled-v1",
    ),
    "ask": ("Answer one question from retrieved documents.", 'kwanzaa-hub ask "What is Umoja?" --docs retrieved.jsonl'),
    "schema": (
        "Print one request's decoding schema (JSON).",
        "kwanzaa-hub schema --docs retrieved.jsonl > schema.json",
    ),
    "versions": (
        "List pushed versions and their headline metrics.",
        "kwanzaa-hub versions your-namespace/kwanzaa-adapter | less",
    ),
    "diff": (
        "Compare two versions metric by metric.",
        "kwanzaa-hub diff your-namespace/kwanzaa-adapter v1 v2 --examples",
    ),
    "validate": (
        "Check JSONL files against the format and contract.",
        "kwanzaa-hub validate data/raw/kwanzaa_eval.jsonl",
    ),
    "check-params": (
        "Check params.yaml before DVC reads it (one line).",
        "kwanzaa-hub check-params params.yaml",
    ),
    "params-reference": (
        "Print the params reference (Markdown).",
        "kwanzaa-hub params-reference > params-reference.md",
    ),
    "example-data": ("Write the bundled example dataset.", "kwanzaa-hub example-data --out data/raw"),
    "tiny-model": ("Build a tiny random Llama for offline runs.", "kwanzaa-hub tiny-model models/tiny"),
    "demo": ("Run the whole pipeline offline, then one ask.", "kwanzaa-hub demo"),
}
for _name, _command in COMMANDS:
    _line, _example = ABOUT[_name]
    # "\b": click prints the block as it is (an example is never rewrapped)
    app.command(_name, short_help=_line, epilog=f"\b\nExample:\n  {_example}")(_command)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m kwanzaa_hub.cli.app` (used by accelerate launch)
    main()
