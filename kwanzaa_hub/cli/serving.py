"""Answering one question (``ask``) and the decoding schema of one request (``schema``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.cli.common import ParamsOpt, handled
from kwanzaa_hub.console import error, result, warn


@handled
def ask(
    question: str = typer.Argument(..., help="the question to answer"),
    docs: Path = typer.Option(..., "--docs", help="retrieved documents: a JSON list or a JSONL file"),
    adapter: Optional[Path] = typer.Option(None, help="local adapter folder (default: train.output_dir)"),
    repo: Optional[str] = typer.Option(None, "--repo", help="a pushed version's repo (namespace/name)"),
    version: str = typer.Option("v1", help="with --repo: the version tag"),
    free: bool = typer.Option(
        False, "--free", help="free decoding: not held to the schema; exit 1 when the text is not a contract answer"
    ),
    base: Optional[str] = typer.Option(None, help="base model (default: model.base from params)"),
    max_new_tokens: int = typer.Option(2048, help="generation budget (tokens)"),
    params: Path = ParamsOpt,
) -> None:
    """Answer one question from retrieved documents: prints one JSON object, held to the version's decoding schema,
    on stdout, nothing else.

    With --free the model decodes freely (no schema): stdout holds its text as written, whatever it is, and when that
    text is not a kwanzaa.answer.v1 answer the command exits 1 with the reason on stderr."""
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
    loaded = ask_mod.load_model(**ask_mod.load_arguments(p, adapter=adapter, repo_id=repo, version=version, base=base))
    if free:
        warn(
            "--free: free decoding is not held to the decoding schema, so the text may not be an answer (checked after)"
        )
    text = ask_mod.answer(
        loaded, question, documents, free=free, max_new_tokens=max_new_tokens, chat_date=p.model.chat_date
    )
    result(text)  # as the model wrote it: with --free, nothing is lost when it is not an answer
    if free and (problem := contract_problem(text)):
        error(f"--free: {problem}; stdout holds the text as the model wrote it")
        raise typer.Exit(1)


def contract_problem(text: str) -> str | None:
    """Why ``text`` is not a kwanzaa.answer.v1 answer, in one line (the first violation and how many more), or None
    when it is one (:func:`kwanzaa_hub.contract.answer.parse_answer` decides)."""
    from kwanzaa_hub.contract.answer import CONTRACT_VERSION, parse_answer

    parsed = parse_answer(text)
    if parsed.compliant:
        return None
    first, more = parsed.errors[0], len(parsed.errors) - 1
    reason = " ".join(first.split()) + (f" (and {more} more)" if more else "")
    return f"the text is not a {CONTRACT_VERSION} answer: {reason}"


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
    result(schema_text(schema), end="")
