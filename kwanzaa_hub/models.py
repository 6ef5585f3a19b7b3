"""Resolve ``model.base`` (Hub id, local directory or ``.gguf`` file) and load its tokenizer.

A GGUF file is converted once into a normal safetensors checkpoint in a cache folder
(``~/.cache/kwanzaa_hub/gguf/``), so later loads, 4-bit quantization and PEFT see an ordinary transformers model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError

#: What an adapter folder must hold (the tokenizer files travel beside them).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def is_gguf(base: str) -> bool:
    return base.lower().endswith(".gguf")


def gguf_cache_dir(gguf_path: Path) -> Path:
    """``$KWANZAA_HUB_CACHE`` (default ``~/.cache/kwanzaa_hub``) ``/gguf/<name>-<size>.hf``: outside the
    package folder the file may live in (site-packages can be read-only), one per file content size."""
    root = Path(os.environ.get("KWANZAA_HUB_CACHE", Path.home() / ".cache" / "kwanzaa_hub"))
    return root / "gguf" / f"{gguf_path.name}-{gguf_path.stat().st_size}.hf"


def resolve_base(base: str, *, cache_root: Path | None = None) -> str:
    """Return something ``from_pretrained`` accepts: a Hub id, or a local directory.

    A ``.gguf`` file is dequantized once into a safetensors checkpoint (see :func:`gguf_cache_dir`, or
    under ``cache_root``) and that directory is returned.
    """
    if is_gguf(base):
        path = Path(base).expanduser()
        if not path.is_file():
            raise InputError(f"model.base: GGUF file {base!r} not found")
        out = (cache_root / (path.name + ".hf")) if cache_root else gguf_cache_dir(path)
        if not (out / "config.json").is_file():
            _convert_gguf(path, out)
        return str(out)
    local = Path(base).expanduser()
    if local.exists():
        if not (local / "config.json").is_file() and not (local / "tokenizer_config.json").is_file():
            raise InputError(f"model.base: {base!r} is a path but holds no config.json / tokenizer_config.json")
        return str(local)
    if base.count("/") != 1:
        raise InputError(f"model.base: {base!r} is neither an existing path, a .gguf file, nor a Hub id 'org/name'")
    return base


def _convert_gguf(path: Path, out: Path) -> None:
    import shutil
    import tempfile

    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        # GgufConfig(dequantize=True) drops the GGUF quantizer after loading so save_pretrained works.
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, quantization_config=GgufConfig(dequantize=True)
        )
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def hub_access_error(base: str, exc: Exception) -> InputError:
    """Turn a Hub failure for the base model into a message that says how to fix it."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    chain, cause = [], exc  # transformers wraps the Hub's error in an OSError: look at the whole chain
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    exc = next((e for e in chain if isinstance(e, RepositoryNotFoundError)), exc)
    if isinstance(exc, GatedRepoError):
        return InputError(
            f"model.base: {base} is gated and this token has no access. Accept the license at "
            f"https://huggingface.co/{base}, then log in with `hf auth login` or set HF_TOKEN."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return InputError(
            f"model.base: {base} was not found or needs a token. Check the id, accept its license on the Hub, "
            "and log in with `hf auth login` or set HF_TOKEN."
        )
    return InputError(f"model.base: could not load {base}: {exc}. Offline? Use a local directory or .gguf file.")


def from_pretrained(loader: Any, base: str, revision: str = "main", **kwargs: Any) -> Any:
    """``loader.from_pretrained`` on the resolved base (Hub id, directory or converted GGUF); the revision
    applies to Hub ids only, and Hub failures become an ``InputError`` that says how to fix them."""
    from huggingface_hub.errors import HfHubHTTPError

    resolved = resolve_base(base)
    try:
        return loader.from_pretrained(resolved, revision=None if Path(resolved).exists() else revision, **kwargs)
    except (HfHubHTTPError, OSError) as exc:
        raise hub_access_error(base, exc) from None


def load_tokenizer(base: str, revision: str = "main") -> Any:
    """The base model's tokenizer (with its chat template)."""
    from transformers import AutoTokenizer

    tok = from_pretrained(AutoTokenizer, base, revision)
    if not getattr(tok, "chat_template", None):
        raise InputError(f"model.base: the tokenizer of {base!r} has no chat template; use an instruct model")
    return tok


def set_pad_token(tokenizer: Any) -> None:
    """Llama 3.x ships no pad token: use its reserved ``<|finetune_right_pad_id|>``, else end of text."""
    if tokenizer.pad_token is not None:
        return
    vocab = tokenizer.get_vocab()
    tokenizer.pad_token = "<|finetune_right_pad_id|>" if "<|finetune_right_pad_id|>" in vocab else tokenizer.eos_token
