"""Resolve ``model.base`` (Hub id, local directory or ``.gguf`` file) and load its tokenizer.

A GGUF file is converted once into a normal safetensors checkpoint in a cache folder
(``~/.cache/kwanzaa_hub/gguf/``), so later loads, 4-bit quantization and PEFT see an ordinary transformers model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.base_model import base_ref
from kwanzaa_hub.errors import InputError, KwanzaaError
from kwanzaa_hub.redact import describe
from kwanzaa_hub.runtime.hubhttp import DeadlineExceeded, NameNotResolved, advice, retrying, with_timeouts

#: What an adapter folder must hold (the tokenizer files travel beside them).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_base(folder: Path, where: str) -> str:
    """The base model an adapter folder names (``adapter_config.json``'s ``base_model_name_or_path``); a one-line
    ``InputError`` when the file is missing, not JSON, or names no base (never a traceback)."""
    import json

    try:
        config = json.loads((Path(folder) / ADAPTER_FILES[0]).read_text(encoding="utf-8"))
        base = config["base_model_name_or_path"]
    except FileNotFoundError:
        raise InputError(f"{where}: no {ADAPTER_FILES[0]}; this is not a PEFT adapter folder") from None
    except (UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError) as exc:
        raise InputError(
            f"{where}: {ADAPTER_FILES[0]} is not a PEFT adapter config naming its base model "
            f"({type(exc).__name__}: {describe(exc)})"
        ) from None
    if not isinstance(base, str) or not base.strip():
        raise InputError(f"{where}: {ADAPTER_FILES[0]} names no base model (base_model_name_or_path)")
    return base


def gguf_cache_dir(gguf_path: Path) -> Path:
    """``$KWANZAA_HUB_CACHE`` (default ``~/.cache/kwanzaa_hub``) ``/gguf/<name>-<size>.hf``: outside the
    package folder the file may live in (site-packages can be read-only), one per file content size."""
    root = Path(os.environ.get("KWANZAA_HUB_CACHE", Path.home() / ".cache" / "kwanzaa_hub"))
    return root / "gguf" / f"{gguf_path.name}-{gguf_path.stat().st_size}.hf"


def resolve_base(base: str) -> str:
    """Return something ``from_pretrained`` accepts: a Hub id, or a local directory.

    A ``.gguf`` file is dequantized once into a safetensors checkpoint (see :func:`gguf_cache_dir`) and that
    directory is returned.
    """
    ref = base_ref(base)
    if ref.path is None:
        return base
    if ref.kind == "gguf":
        if not ref.path.is_file():
            raise InputError(f"model.base: GGUF file {base!r} not found ({ref.path})")
        out = gguf_cache_dir(ref.path)
        if not (out / "config.json").is_file():
            _convert_gguf(ref.path, out)
        return str(out)
    if not ref.path.exists():
        raise missing_base(ref)
    if not (ref.path / "config.json").is_file() and not (ref.path / "tokenizer_config.json").is_file():
        raise InputError(f"model.base: {base!r} is a path but holds no config.json / tokenizer_config.json")
    return os.path.expanduser(base)  # as written (a relative base stays relative in the adapter's config)


def missing_base(ref: Any) -> InputError:
    """One line for a local base (a :class:`~kwanzaa_hub.config.base_model.BaseRef`) that is not there: never looked
    up on the Hub instead."""
    if ref.declared:
        return InputError(
            f"model.base: {ref.text!r} is a local model folder (dvc.yaml's stages depend on it) and {ref.path} is not "
            f"found; put the folder back, or run `kwanzaa-hub set model.base=ORG/NAME` to use a Hub model"
        )
    return InputError(
        f"model.base: {ref.text!r} is neither an existing folder ({ref.path} not found), a .gguf file, nor a Hub id "
        "'org/name'"
    )


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


def access_page(base: str) -> str:
    """Where a person requests access to (accepts the license of) a gated model."""
    from huggingface_hub import constants

    return f"{constants.ENDPOINT}/{base}"


def hub_access_error(base: str, exc: Exception) -> KwanzaaError:
    """Turn a Hub failure for the base model into a message that says how to fix it: exit 2 for what the user
    fixes (license, id, token), exit 1 for a Hub that cannot be reached."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    chain, cause = [], exc  # transformers wraps the Hub's error in an OSError: look at the whole chain
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    transport = next((e for e in chain if isinstance(e, (NameNotResolved, DeadlineExceeded))), None)
    if transport is not None:  # one line, exit 1: the network or a slow Hub, not the base's name
        return KwanzaaError(
            f"model.base: reading {base} from the Hub failed: {describe(transport)}; {advice(transport)}"
        )
    exc = next((e for e in chain if isinstance(e, RepositoryNotFoundError)), exc)
    if isinstance(exc, GatedRepoError):
        return InputError(
            f"model.base: {base} is gated and this Hub token's account has not been granted access. Request access "
            f"(accept the license) at {access_page(base)} while logged in as that account, wait for the approval "
            "e-mail, then rerun."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return InputError(
            f"model.base: {base} was not found or needs a token. Check the id, accept its license on the Hub, "
            "and log in with `hf auth login` or set HF_TOKEN."
        )
    # every message below quotes the library's error: describe() scrubs it (a server may quote the token back)
    if isinstance(exc, HfHubHTTPError) or type(exc).__module__.startswith("httpx"):
        return KwanzaaError(f"model.base: the Hub failed for {base} ({describe(exc)}); check the network and rerun.")
    return InputError(
        f"model.base: could not load {base}: {describe(exc)}. Offline? Use a local directory or .gguf file."
    )


def check_access(base: str, revision: str = "main") -> None:
    """Before any long work: the token can read ``base`` (a gated model's license was accepted). Local folders
    and GGUF files need no check."""
    from huggingface_hub import HfApi, constants

    if base_ref(base).kind != "hub" or constants.HF_HUB_OFFLINE:  # offline: the cached copy is all there is to use
        return

    retrying(HfApi().auth_check, base, what=f"checking access to {base}", fail=lambda exc: hub_access_error(base, exc))


def parameter_count(base: str, revision: str = "main") -> int:
    """Parameters of the base model, from its config alone (built on the meta device: no weights load)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = from_pretrained(AutoConfig, base, revision)
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"model.base: {base} is not a causal language model transformers can build ({describe(exc)})"
        ) from None
    return sum(p.numel() for p in model.parameters())


def from_pretrained(loader: Any, base: str, revision: str = "main", **kwargs: Any) -> Any:
    """``loader.from_pretrained`` on the resolved base (Hub id, directory or converted GGUF); the revision
    applies to Hub ids only, and Hub failures become an error that says how to fix them."""
    resolved = resolve_base(base)
    if base_ref(base).kind != "hub":  # a local base is never resolved on the Hub, even if it vanishes meanwhile
        kwargs.setdefault("local_files_only", True)
    with_timeouts()
    try:
        return loader.from_pretrained(resolved, revision=None if Path(resolved).exists() else revision, **kwargs)
    except Exception as exc:
        if isinstance(exc, (OSError, DeadlineExceeded)) or type(exc).__module__.startswith(
            ("huggingface_hub", "httpx")
        ):
            raise hub_access_error(base, exc) from None
        raise


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


_COMMIT = re.compile(r"[0-9a-f]{40}")


def base_identity(base: str, revision: str = "main") -> dict[str, str]:
    """What identifies the base model's weights: the sha256 over a local folder's files (path and content) or a
    GGUF file, or the commit a Hub id's ``revision`` resolves to now. Part of the checkpoint fingerprint, the
    train report and the card, so a base that changed in place trains again (never restores an old run)."""
    import hashlib

    ref = base_ref(base)
    if ref.path is not None:
        path = ref.path
        if not path.exists():
            raise (
                missing_base(ref)
                if ref.kind == "local"
                else InputError(f"model.base: GGUF file {base!r} not found ({path})")
            )
        h = hashlib.sha256()
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            rel = f.relative_to(path).as_posix() if path.is_dir() else f.name
            if rel.startswith(".kwanzaa-hub") or rel.startswith(".cache/"):
                continue  # the ownership marker and huggingface_hub's bookkeeping are not weights
            h.update(rel.encode() + b"\0")
            with open(f, "rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(chunk)
        return {"kind": ref.kind, "sha256": h.hexdigest()}
    return {"kind": "hub", "revision": revision, "commit": hub_commit(base, revision)}


def check_trained_base(base: str, revision: str, train_report: str | Path) -> None:
    """Stop (exit 2) when the base model about to load is not the one the adapter was trained on, as the train
    report's ``base_model`` identity recorded it: a local folder or GGUF file rebuilt in place (edited into
    params.yaml by hand, named with ``~``, set before it existed), or a Hub base swapped for a local one. A Hub base
    is loaded at the very commit it was trained on, so its weights need no second look. A report without an
    identity is not checked (``ask`` warns about it)."""
    import json

    path = Path(train_report)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("base_model") or {}
    except (OSError, ValueError, AttributeError):
        return  # no report (eval of an adapter trained elsewhere) or one this check cannot read
    kind, now_hub = recorded.get("kind"), base_ref(base).kind == "hub"
    if kind == "hub" and now_hub and recorded.get("name") not in (None, base):
        raise InputError(
            f"model.base: {base} is not the base of this adapter: it was trained on {recorded['name']} (recorded in "
            f"{path}); run `dvc repro train` to train on {base}, or use {recorded['name']}"
        )
    if kind not in ("hub", "local", "gguf") or (kind == "hub" and now_hub):
        return
    now = base_identity(base, revision)
    if (now.get("kind"), now.get("sha256")) != (kind, recorded.get("sha256")):
        trained = recorded.get("commit") or str(recorded.get("sha256", ""))[:12]
        found = now.get("commit") or now.get("sha256", "")[:12]
        raise InputError(
            f"model.base: {base} ({now['kind']} {found}) is not the base the adapter was trained on ({kind} "
            f"{trained}, recorded in {path}): run `dvc repro train` to train on it, or put the trained base back"
        )


def cached_commit(base: str, revision: str) -> str | None:
    """The commit the Hub cache recorded for ``revision`` of the Hub model ``base`` (None when nothing is cached),
    read with huggingface_hub's public cache scanner, not by building its folder names."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return None
    for repo in cache.repos:
        if repo.repo_type == "model" and repo.repo_id == base and revision in repo.refs:
            commit = repo.refs[revision].commit_hash
            return commit if _COMMIT.fullmatch(commit) else None
    return None


def hub_commit(base: str, revision: str) -> str:
    """The commit ``revision`` of the Hub model ``base`` points to now (offline: the one the cache recorded)."""
    from huggingface_hub import constants

    if _COMMIT.fullmatch(revision):
        return revision
    if constants.HF_HUB_OFFLINE:
        commit = cached_commit(base, revision)
        if commit:
            return commit
        raise InputError(
            f"model.base: offline mode is on (HF_HUB_OFFLINE=1) and no cached copy of {base}@{revision} says which "
            "commit it is; go online once, or set model.revision to a commit sha that is cached"
        )
    from huggingface_hub import HfApi

    info = retrying(
        HfApi().model_info,
        base,
        revision=revision,
        what=f"reading {base}",
        fail=lambda exc: hub_access_error(base, exc),
    )
    return info.sha
