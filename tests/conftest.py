"""Fixtures: a tiny Llama-3.x-format model, hand-made JSONL files, a temp git + DVC project."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tests.hub_server import HubServer

# The loopback Hub starts before anything imports huggingface_hub, which reads these once at import.
# Every Hub call of the suite (and of the `dvc repro` subprocesses) goes to 127.0.0.1: no internet.
HUB_TOKEN = "hf_SENTINELkwanzaa0token0never0written0anywhere"
HUB_READ_TOKEN = "hf_readonlykwanzaa0token"
_HUB_ROOT = tempfile.mkdtemp(prefix="kwanzaa-hub-server-")
HUB = HubServer(_HUB_ROOT, HUB_TOKEN, read_tokens=(HUB_READ_TOKEN,), user="tester", orgs=("kwanzaa-team",)).start()
atexit.register(shutil.rmtree, _HUB_ROOT, True)
os.environ.update(
    {
        "HF_ENDPOINT": HUB.endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": tempfile.mkdtemp(prefix="kwanzaa-hf-home-"),
    }
)
os.environ.pop("HF_TOKEN", None)
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "kwanzaa-data"


@pytest.fixture(autouse=True)
def _fresh_hardware_detection():
    """hardware.detect() is cached per process: each test starts from what torch reports now (a test that fakes
    torch.cuda sees its fake)."""
    from kwanzaa_hub.runtime import hardware

    hardware.detect.cache_clear()


class _LibraryClock:
    """Stands in for ``time`` inside huggingface_hub's backoff: its waits (1 to 8 s each) are recorded, not slept,
    so a test of a fault the library retries takes no time, and the server's log still counts every try."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def hub(monkeypatch):
    """The loopback Hub with the write token in HF_TOKEN; faults injected by a test are cleared after it.
    huggingface_hub's backoff does not sleep meanwhile (:class:`_LibraryClock`)."""
    from huggingface_hub import file_download
    from huggingface_hub.utils import _http

    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    for module in (_http, file_download):
        monkeypatch.setattr(module, "time", _LibraryClock())
    HUB.faults.clear()
    yield HUB
    HUB.faults.clear()


@pytest.fixture
def repo_id() -> str:
    """A fresh repo name on the loopback Hub."""
    return f"tester/kwanzaa-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random LlamaForCausalLM + Llama-3.x-format tokenizer, built once per session (seconds)."""
    from kwanzaa_hub.devtools.tiny import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def example_samples():
    from kwanzaa_hub.devtools import example_data

    return example_data.build()


@pytest.fixture
def shared_data() -> Path:
    """The team's real dataset, when ../shared is present."""
    if not (SHARED_DATA / "kwanzaa_train.jsonl").is_file():
        pytest.skip("../shared/kwanzaa-data is not present")
    return SHARED_DATA


def write_jsonl(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_dvc_project(tmp_path, tiny_model_dir):
    """Factory: a git + DVC copy of this repo's pipeline in tmp_path, on the tiny model, no push."""
    import shutil

    from kwanzaa_hub.config.base_model import declare_local_base
    from kwanzaa_hub.devtools.project import make_project

    def factory(overrides: dict | None = None, name: str = "project") -> Path:
        dest = tmp_path / name
        merged = {"model.base": "models/base", "hub.repo_id": ""}
        merged.update(overrides or {})
        project = make_project(dest, merged)
        if not (dest / "models" / "base").exists():
            shutil.copytree(tiny_model_dir, dest / "models" / "base")
        declare_local_base(project)
        return project

    return factory


@pytest.fixture
def outputs(tmp_path, monkeypatch, tiny_model_dir, hub):
    """cwd = a folder holding what train and eval leave behind (a real adapter, metrics, reports)."""
    from tests.helpers import write_outputs

    monkeypatch.chdir(tmp_path)
    write_outputs(tmp_path, tiny_model_dir)
    return tmp_path
