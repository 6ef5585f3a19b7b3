"""``kwanzaa-hub``: one command per pipeline stage plus tools around it.

Each command parses its arguments, loads params, calls one library function and prints a summary; the commands
live by job in the modules beside this one (``pipeline``, ``serving``, ``versions``, ``project``, ``devtools``), and
this module only registers them, in the order ``--help`` lists them. Library errors (``kwanzaa_hub.errors``) become
a short message and exit code 2 (bad input) or 1 (:func:`kwanzaa_hub.cli.common.handled`). Heavy imports (torch,
transformers, datasets) happen inside the commands so ``--help`` is instant.
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
)


@app.callback()
def _every_command() -> None:  # before any command: no library noise on the console (runtime/quiet.py)
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
    ("params-reference", project.params_reference),
    ("example-data", devtools.example_data_cmd),
    ("tiny-model", devtools.tiny_model),
    ("demo", devtools.demo),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover - `python -m kwanzaa_hub.cli.app` (used by accelerate launch)
    main()
