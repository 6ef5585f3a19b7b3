"""Getting a pushed version back: verified files on disk (``pull``) or a ready model (``load``).

Both check every file against the version's ``kwanzaa_manifest.json`` (sha256) before anything is
loaded, accept safetensors only, and never pass ``trust_remote_code``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError
from kwanzaa_hub.fs.atomic import atomic_dir
from kwanzaa_hub.fs.ownership import LOCAL
from kwanzaa_hub.hub import versions


def pull(repo_id: str, version: str, out: str | Path) -> Path:
    """Download ``repo_id@version`` into ``out`` (replaced atomically) after checking every sha256."""
    out = Path(out)  # judged resolved, '..' refused, and replaced only when `pull` wrote it (atomic_dir)
    with atomic_dir(out, "pull") as tmp:
        versions.verified_download(repo_id, version, local_dir=tmp)
        shutil.rmtree(tmp / ".cache", ignore_errors=True)  # huggingface_hub's local_dir bookkeeping
    return out


def load(repo_id: str, version: str = "v1", base_model: str | None = None, **model_kwargs: Any) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a pushed version: the base model (from the adapter config unless given) with the
    adapter on top. The adapter and tokenizer are loaded from the very files whose sha256 was checked, at the
    commit the tag pointed to when they were checked: nothing is downloaded a second time."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kwanzaa_hub.runtime.models import adapter_base, from_pretrained

    root, _commit = versions.verified_download(repo_id, version)
    named = adapter_base(root, f"{repo_id}@{version}")  # a broken adapter config: one line, not a traceback
    base_id = base_model or named
    if base_id.startswith(LOCAL):
        raise InputError(
            f"{repo_id}@{version} was trained on a local base model ({base_id.removeprefix(LOCAL)}): pass "
            "base_model= the path of that model on this machine"
        )
    base = from_pretrained(AutoModelForCausalLM, base_id, **model_kwargs)
    model = PeftModel.from_pretrained(base, str(root))
    tokenizer = AutoTokenizer.from_pretrained(str(root))
    return model, tokenizer
