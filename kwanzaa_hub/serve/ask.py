"""Answer one question from retrieved documents with an adapter: what the team's backend calls.

:func:`ask` builds the training data's prompt (:mod:`kwanzaa_hub.contract.prompt`) from documents given as dicts,
generates greedily, held to the version's decoding schema unless ``free``, and returns the answer text (one
JSON object under the schema). The adapter is a local folder, or a pushed version loaded through
:func:`kwanzaa_hub.hub.pull.load` (every file, the schema included, checked against the manifest).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.console import warn
from kwanzaa_hub.contract.documents import Document, from_dicts, load_documents
from kwanzaa_hub.contract.prompt import user_message
from kwanzaa_hub.contract.request_schema import for_prompt
from kwanzaa_hub.errors import InputError, KwanzaaError

__all__ = [
    "Loaded",
    "answer",
    "ask",
    "load_arguments",
    "load_documents",
    "load_model",
    "messages",
    "version_folder",
    "version_schema",
]

DEFAULT_PERSONA = "researcher"


def messages(question: str, docs: list[Document], persona: str = DEFAULT_PERSONA) -> list[dict[str, str]]:
    """The system and user messages of the training data's format for ``question`` over ``docs``."""
    from kwanzaa_hub.contract.prompt import PERSONAS, RULES

    if not question or not question.strip():
        raise InputError("the question is empty: pass the question to answer")
    if persona not in PERSONAS:
        raise InputError(f"--persona {persona!r}: expected one of {', '.join(PERSONAS)}")
    try:
        user = user_message(question, docs)  # the question made one line, as every field of the documents
    except ValueError as exc:
        raise InputError(f"the question: {exc}") from None
    return [{"role": "system", "content": PERSONAS[persona][0] + RULES}, {"role": "user", "content": user}]


@dataclass
class Loaded:
    """A model ready to answer: the model, its tokenizer and the decoding schema of its version (None if absent)."""

    model: Any
    tokenizer: Any
    schema: dict[str, Any] | None


def _read_schema(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def load_model(
    *,
    adapter: str | Path | None = None,
    repo_id: str | None = None,
    version: str | None = None,
    base: str,
    revision: str = "main",
    schema_file: str | Path | None = None,
    train_report: str | Path | None = None,
) -> Loaded:
    """The adapter from a local folder, or ``repo_id@version`` through :func:`kwanzaa_hub.hub.pull.load` (verified),
    on ``base``. The schema is the version's ``answer.schema.json`` (in the folder or the version), else
    ``schema_file``. Before any weights load, ``base`` is checked against the base the adapter was trained on, as
    its train report recorded it (the version's own ``reports/train.json``, or ``train_report`` for a local
    adapter): another base is refused; without a recorded identity a warning says so."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.runtime.models import from_pretrained
    from kwanzaa_hub.runtime.progress import no_loading_bars

    if adapter is not None and repo_id is not None:
        raise InputError("--adapter and --repo both given: answer with a local adapter folder or a pushed version")
    if repo_id is not None:
        from kwanzaa_hub.hub import versions
        from kwanzaa_hub.hub.pull import load

        hub.check_repo_id(repo_id)
        folder = version_folder(repo_id=repo_id, version=version)
        _check_base(base, revision, folder / versions.REPO_LAYOUT["train_report"], f"{repo_id}@{version or 'v1'}")
        with no_loading_bars():
            model, tokenizer = load(repo_id, version or "v1", base_model=base)
    else:
        folder = version_folder(adapter=adapter)
        _check_base(base, revision, train_report, str(folder))
        with no_loading_bars():
            model = PeftModel.from_pretrained(from_pretrained(AutoModelForCausalLM, base, revision), str(folder))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return Loaded(model, tokenizer, version_schema(folder, schema_file))


def load_arguments(
    params: Any,
    *,
    adapter: str | Path | None = None,
    repo_id: str | None = None,
    version: str | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of :func:`load_model` for answering under ``params`` (a workspace's params.yaml) with
    the ``adapter`` folder or the pushed ``repo_id@version`` chosen (neither: the workspace's ``train.output_dir``).
    A pushed version answers with its own schema and train report, never the workspace's; a local adapter falls back
    on the data stage's ``data.decoding_schema``, and the workspace's train report speaks for the workspace's adapter
    only (another folder is unchecked, with a warning)."""
    own = Path(params.train.output_dir)
    workspace = not repo_id and (adapter is None or Path(adapter).resolve() == own.resolve())  # as written or not
    return {
        "adapter": None if repo_id else (adapter or own),
        "repo_id": repo_id,
        "version": version,
        "base": base or params.model.base,
        "revision": params.model.revision,
        "schema_file": workspace_schema(params, repo_id),
        "train_report": params.train.report if workspace else None,
    }


def workspace_schema(params: Any, repo_id: str | None = None) -> str | None:
    """The schema file that answers for a version without its own ``answer.schema.json``: the data stage's
    ``data.decoding_schema`` for a local adapter; none for a pushed version (its own schema, never the workspace's)."""
    return None if repo_id else params.data.decoding_schema


def request_schema(
    docs: str | Path,
    *,
    adapter: str | Path | None = None,
    repo_id: str | None = None,
    version: str | None = None,
    params: Any,
) -> dict[str, Any]:
    """``kwanzaa-hub schema``: the request schema of the documents in ``docs`` under the version's schema (a pushed
    ``repo_id@version``, a local ``adapter`` folder, else the data stage's ``data.decoding_schema`` of ``params``)."""
    from kwanzaa_hub.contract.request_schema import schema_for

    if adapter is not None and repo_id is not None:
        raise InputError("--adapter and --repo both given: narrow a local adapter's schema or a pushed version's")
    documents = load_documents(docs)
    fallback = workspace_schema(params, repo_id)
    folder = version_folder(adapter=adapter, repo_id=repo_id, version=version) if adapter or repo_id else None
    static = version_schema(folder, fallback)
    if static is None:
        raise InputError(
            f"no decoding schema: {fallback or repo_id} has none (run `dvc repro data`), or pass --repo/--adapter"
        )
    return schema_for(documents, static)


def _check_base(base: str, revision: str, report: str | Path | None, adapter: str) -> None:
    """Refuse a base other than the one ``adapter`` was trained on (its train report's ``base_model``); warn when
    nothing recorded which base that was."""
    import json

    from kwanzaa_hub.runtime.models import check_trained_base

    recorded = None
    if report is not None and Path(report).is_file():
        try:
            recorded = json.loads(Path(report).read_text(encoding="utf-8")).get("base_model")
        except (ValueError, AttributeError):
            recorded = None
    if not isinstance(recorded, dict) or not recorded.get("kind"):
        warn(
            f"no train report records which base {adapter} was trained on: answering on {base} unchecked; an adapter "
            "on another base than its own answers badly"
        )
        return
    check_trained_base(base, revision, report)


def _adapter_folder(adapter: str | Path | None) -> Path:
    """A local adapter folder whose ``adapter_config.json`` reads as a PEFT config (else one line, exit 2)."""
    from kwanzaa_hub.runtime.models import adapter_base

    folder = Path(adapter) if adapter is not None else None
    if folder is None or not (folder / "adapter_config.json").is_file():
        raise InputError(f"--adapter {folder}: no adapter_config.json there; train first or pass --repo/--version")
    adapter_base(folder, f"--adapter {folder}")
    return folder


def version_folder(
    *, adapter: str | Path | None = None, repo_id: str | None = None, version: str | None = None
) -> Path:
    """The files of the version answered with: the pushed ``repo_id@version`` downloaded and checked against its
    manifest (cached: :func:`kwanzaa_hub.hub.pull.load` reads the same copy), or the local ``adapter`` folder."""
    from kwanzaa_hub.hub import versions

    if repo_id is not None:
        root, _ = versions.verified_download(repo_id, version or "v1")
        return root
    return _adapter_folder(adapter)


def version_schema(folder: Path | None, schema_file: str | Path | None = None) -> dict[str, Any] | None:
    """The decoding schema a version ships (``answer.schema.json`` in its ``folder``: :func:`version_folder`), else
    ``schema_file`` (the data stage's); None when neither exists."""
    from kwanzaa_hub.hub.versions import REPO_LAYOUT

    schema = _read_schema(folder / REPO_LAYOUT["decoding_schema"]) if folder is not None else None
    if schema is None and schema_file is not None:
        schema = _read_schema(Path(schema_file))
    return schema


def answer(
    loaded: Loaded,
    question: str,
    docs: list[Document],
    *,
    free: bool = False,
    max_new_tokens: int = 2048,
    chat_date: str | None = None,
    persona: str = DEFAULT_PERSONA,
) -> str:
    """The model's answer to ``question`` over ``docs``: one JSON object held to the version's schema narrowed to
    ``docs`` (:func:`kwanzaa_hub.contract.request_schema.for_prompt`: sources and citations only from these
    documents, none when ``docs`` is empty), or free text with ``free``. Under the schema the answer is always a
    whole object: when the budget runs out, its closing is written in time (the text is cut short, and a warning on
    stderr says so)."""
    from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE
    from kwanzaa_hub.runtime.chat import special_token_texts
    from kwanzaa_hub.runtime.generate import generate

    if max_new_tokens < 1:
        raise InputError(f"--max-new-tokens {max_new_tokens}: give a positive number of tokens")
    chat = messages(question, docs, persona)
    check_context(loaded, chat, chat_date or DEFAULT_CHAT_DATE, max_new_tokens)
    if not free and loaded.schema is None:
        from kwanzaa_hub.hub.versions import REPO_LAYOUT

        raise InputError(
            f"no decoding schema for this adapter ({REPO_LAYOUT['decoding_schema']} is not in the version or folder, "
            "and no data.decoding_schema file): run `dvc repro data`, or pass --free"
        )
    schema = None
    if not free:  # pinned values are what this tokenizer can write as plain text (never special-token text)
        schema = for_prompt(loaded.schema, chat[-1]["content"], special_token_texts(loaded.tokenizer))
        check_budget(loaded.tokenizer, schema, max_new_tokens)
    gen = generate(
        loaded.model,
        loaded.tokenizer,
        [chat],
        chat_date=chat_date or DEFAULT_CHAT_DATE,
        max_new_tokens=max_new_tokens,
        batch_size=1,
        schema=schema,
    )
    if not free and gen.stop_reasons[0] == "length":
        raise KwanzaaError(  # check_budget refused every budget the closer cannot meet: this is a bug
            f"the answer was cut at --max-new-tokens {max_new_tokens} before the decoder could close it; nothing "
            "printed. Report it with the documents file, or pass a larger --max-new-tokens"
        )
    if schema is not None:
        check_whole(gen.texts[0], schema)
    if gen.stop_reasons[0] == "budget":
        warn(
            f"the answer was closed early to fit --max-new-tokens {max_new_tokens}: it is valid JSON but its text "
            "is cut short; raise --max-new-tokens for the whole answer"
        )
    return gen.texts[0]


def check_budget(tokenizer: Any, schema: dict[str, Any], max_new_tokens: int) -> int:
    """The fewest tokens an answer under the request ``schema`` takes
    (:func:`kwanzaa_hub.runtime.constrained.smallest_answer`); an ``InputError`` that names it when ``max_new_tokens``
    is below it, before any generation."""
    from kwanzaa_hub.runtime.constrained import smallest_answer

    least = smallest_answer(tokenizer, schema)
    if max_new_tokens < least:
        raise InputError(
            f"--max-new-tokens {max_new_tokens} is below the smallest answer this request's schema allows "
            f"({least} tokens): pass at least {least}"
        )
    return least


def check_whole(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The answer ``text`` decoded, when it is one JSON object valid under the request ``schema``; otherwise a
    ``KwanzaaError`` (exit 1) that says why: an answer held to the schema is never handed on cut or invalid."""
    import jsonschema

    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        why = f"not whole JSON ({exc})"
    else:
        found = jsonschema.Draft202012Validator(schema).iter_errors(data) if isinstance(data, dict) else None
        first = jsonschema.exceptions.best_match(found) if found is not None else None
        if found is not None and first is None:
            return data
        why = f"invalid at {first.json_path}: {first.message[:120]}" if first else f"a JSON {type(data).__name__}"
    raise KwanzaaError(
        f"the decoder did not finish a valid answer under the schema (it is {why}); nothing printed. "
        "Report it with the documents file, or answer with --free"
    )


def check_context(loaded: Loaded, chat: list[dict[str, str]], chat_date: str, max_new_tokens: int) -> int:
    """The prompt's length in tokens; an ``InputError`` (with the counts) when it and ``max_new_tokens`` do not fit
    the base model's context, before any generation."""
    from kwanzaa_hub.runtime import chat as chat_mod

    context = getattr(loaded.model.config, "max_position_embeddings", None)
    prompt = len(
        loaded.tokenizer(chat_mod.render_text(loaded.tokenizer, chat, chat_date), add_special_tokens=False)["input_ids"]
    )
    if context and prompt + max_new_tokens > context:
        raise InputError(
            f"the prompt is {prompt:,} tokens and --max-new-tokens {max_new_tokens:,}: together over the base model's "
            f"context of {context:,}; pass fewer or shorter documents, or a smaller --max-new-tokens"
        )
    return prompt


def ask(
    question: str,
    documents: list[dict[str, Any]] | str | Path,
    *,
    adapter: str | Path | None = None,
    repo_id: str | None = None,
    version: str | None = None,
    base: str = "meta-llama/Llama-3.2-1B-Instruct",
    free: bool = False,
    max_new_tokens: int = 2048,
    schema_file: str | Path | None = None,
) -> str:
    """One answer for the team's backend: ``documents`` as dicts (or a JSON/JSONL file), the adapter as a folder
    or a pushed ``repo_id`` + ``version``. Returns the answer text; under the schema (unless ``free``) it is one
    JSON object of ``kwanzaa.answer.v1``'s shape. Load once with :func:`load_model` and call :func:`answer` to
    serve many questions. A local adapter folder without ``answer.schema.json`` uses ``schema_file`` (the data
    stage's ``data.decoding_schema``)."""
    if not question or not question.strip():
        raise InputError("the question is empty: pass the question to answer")
    docs = load_documents(documents) if isinstance(documents, (str, Path)) else from_dicts(documents)
    loaded = load_model(adapter=adapter, repo_id=repo_id, version=version, base=base, schema_file=schema_file)
    return answer(loaded, question, docs, free=free, max_new_tokens=max_new_tokens)
