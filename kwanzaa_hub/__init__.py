"""kwanzaa_hub: a chat-format dataset in, a versioned, evaluated QLoRA adapter on the Hugging Face Hub out."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["ask", "load", "schema_for", "__version__"]


def load(repo_id: str, version: str = "v1", base_model: str | None = None, **model_kwargs: Any):
    """``(model, tokenizer)`` of a pushed version, files checked against its manifest; see ``hub.pull.load``."""
    from kwanzaa_hub.hub.pull import load as _load

    return _load(repo_id, version, base_model, **model_kwargs)


def ask(question: str, documents: Any, **kwargs: Any) -> str:
    """One answer (a ``kwanzaa.answer.v1`` JSON object under the decoding schema) to ``question`` over retrieved
    ``documents``; see ``kwanzaa_hub.serve.ask.ask``."""
    from kwanzaa_hub.serve.ask import ask as _ask

    return _ask(question, documents, **kwargs)


def schema_for(documents: Any, schema: Any) -> dict:
    """The decoding schema of one request: ``schema`` (a version's ``answer.schema.json``, as a dict or a path)
    narrowed to the retrieved ``documents`` (dicts, as ``ask`` takes them), for vLLM's ``response_format`` or
    llama.cpp's ``json_schema``; see ``kwanzaa_hub.contract.request_schema``."""
    import json
    from pathlib import Path

    from kwanzaa_hub.contract.request_schema import schema_for as _schema_for

    if isinstance(schema, (str, Path)):
        schema = json.loads(Path(schema).read_text(encoding="utf-8"))
    return _schema_for(documents, schema)
