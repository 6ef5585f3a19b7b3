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
from kwanzaa_hub.contract.prompt import RetrievedDoc, user_message
from kwanzaa_hub.errors import InputError, KwanzaaError

SCHEMA_FILE = "answer.schema.json"  # versions.REPO_LAYOUT["decoding_schema"]: the name a version's schema has
DEFAULT_PERSONA = "researcher"


def _document(where: str, raw: Any) -> RetrievedDoc:
    if not isinstance(raw, dict):
        raise InputError(
            f"{where}: expected a document object with title, content, url, ..., found {type(raw).__name__}"
        )
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InputError(f"{where}: the document has no content (a non-empty 'content' string is required)")
    relevance = raw.get("relevance_score", raw.get("relevance", raw.get("score")))
    if relevance is not None and (isinstance(relevance, bool) or not isinstance(relevance, (int, float))):
        raise InputError(f"{where}: relevance_score must be a number, found {relevance!r}")
    url = raw.get("url") or raw.get("canonical_url") or ""
    title = raw.get("title") or raw.get("citation_label") or url or "Untitled document"
    source = raw.get("publisher") or raw.get("source_org") or raw.get("source") or raw.get("author") or ""
    return RetrievedDoc(
        str(title).strip(), " ".join(content.split()), str(url), str(source), raw.get("year"), relevance
    )


def load_documents(path: str | Path) -> list[RetrievedDoc]:
    """Documents from a JSON file (a list of objects, or ``{"documents": [...]}``) or a ``.jsonl`` file (one object
    a line), in retrieval order. Each needs ``content``; ``title``, ``author``/``publisher``, ``year``, ``url`` and
    ``relevance_score`` fill the prompt's other lines."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--docs {path}: file not found")
    text = path.read_text(encoding="utf-8")
    items: list[tuple[str, Any]] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f"{path}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{n}: not valid JSON ({exc.msg}); expected one document object a line"
                ) from None
        return [_document(where, raw) for where, raw in items]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); a .jsonl file holds one a line"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("documents"), list):
        data = data["documents"]
    if not isinstance(data, list):
        raise InputError(
            f'{path}: expected a list of documents (or {{"documents": [...]}}), found {type(data).__name__}'
        )
    items = [(f"{path}: document {i}", d) for i, d in enumerate(data, 1)]
    return [_document(where, raw) for where, raw in items]


def messages(question: str, docs: list[RetrievedDoc], persona: str = DEFAULT_PERSONA) -> list[dict[str, str]]:
    """The system and user messages of the training data's format for ``question`` over ``docs``."""
    from kwanzaa_hub.contract.prompt import PERSONAS, RULES

    if not question or not question.strip():
        raise InputError("the question is empty: pass the question to answer")
    if persona not in PERSONAS:
        raise InputError(f"--persona {persona!r}: expected one of {', '.join(PERSONAS)}")
    return [
        {"role": "system", "content": PERSONAS[persona][0] + RULES},
        {"role": "user", "content": user_message(" ".join(question.split()), docs)},
    ]


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
) -> Loaded:
    """The adapter from a local folder, or ``repo_id@version`` through :func:`kwanzaa_hub.hub.pull.load` (verified),
    on ``base``. The schema is the version's ``answer.schema.json`` (in the folder or the version), else
    ``schema_file``."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import versions
    from kwanzaa_hub.runtime.models import from_pretrained

    if adapter is not None and repo_id is not None:
        raise InputError("--adapter and --repo both given: answer with a local adapter folder or a pushed version")
    if repo_id is not None:
        from kwanzaa_hub.hub.pull import load

        hub.check_repo_id(repo_id)
        model, tokenizer = load(repo_id, version or "v1", base_model=base)
        root, _ = versions.verified_download(repo_id, version or "v1")  # the cached, checked files: no second download
        schema = _read_schema(root / SCHEMA_FILE)
    else:
        folder = Path(adapter) if adapter is not None else None
        if folder is None or not (folder / "adapter_config.json").is_file():
            raise InputError(f"--adapter {folder}: no adapter_config.json there; train first or pass --repo/--version")
        model = PeftModel.from_pretrained(from_pretrained(AutoModelForCausalLM, base, revision), str(folder))
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        schema = _read_schema(folder / SCHEMA_FILE)
    if schema is None and schema_file is not None:
        schema = _read_schema(Path(schema_file))
    return Loaded(model, tokenizer, schema)


def answer(
    loaded: Loaded,
    question: str,
    docs: list[RetrievedDoc],
    *,
    free: bool = False,
    max_new_tokens: int = 2048,
    chat_date: str | None = None,
    persona: str = DEFAULT_PERSONA,
) -> str:
    """The model's answer to ``question`` over ``docs``: one JSON object held to the schema, or free text with
    ``free``. Under the schema the answer is always a whole object: when the budget runs out, its closing is
    written in time (the text is cut short, and a warning on stderr says so)."""
    from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE
    from kwanzaa_hub.runtime.generate import generate

    chat = messages(question, docs, persona)
    if not free and loaded.schema is None:
        raise InputError(
            f"no decoding schema for this adapter ({SCHEMA_FILE} is not in the version or folder, and no "
            "data.decoding_schema file): run `dvc repro data`, or pass --free"
        )
    gen = generate(
        loaded.model,
        loaded.tokenizer,
        [chat],
        chat_date=chat_date or DEFAULT_CHAT_DATE,
        max_new_tokens=max_new_tokens,
        batch_size=1,
        schema=None if free else loaded.schema,
    )
    if not free and gen.stop_reasons[0] == "length":
        raise KwanzaaError(
            f"--max-new-tokens {max_new_tokens} is below the smallest answer the schema allows; raise it"
        )
    if gen.stop_reasons[0] == "budget":
        warn(
            f"the answer was closed early to fit --max-new-tokens {max_new_tokens}: it is valid JSON but its text "
            "is cut short; raise --max-new-tokens for the whole answer"
        )
    return gen.texts[0]


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
    if isinstance(documents, (str, Path)):
        docs = load_documents(documents)
    else:
        docs = [_document(f"document {i}", d) for i, d in enumerate(documents, 1)]
    loaded = load_model(adapter=adapter, repo_id=repo_id, version=version, base=base, schema_file=schema_file)
    return answer(loaded, question, docs, free=free, max_new_tokens=max_new_tokens)
