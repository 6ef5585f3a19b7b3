"""Before the long work: a gated base model, a runtime without a GPU and a params edit are caught or done right,
through the real Hub client against the loopback Hub."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.runtime.hardware import HardwareFacts
from tests.conftest import HUB_TOKEN, REPO

GATED = "meta-llama/Llama-3.2-1B-Instruct"
CPU = HardwareFacts("cpu", "test-cpu")


def _tiny_config() -> bytes:
    from transformers import LlamaConfig

    return (
        LlamaConfig(
            vocab_size=256,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
        .to_json_string()
        .encode()
    )


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text((REPO / "params.yaml").read_text())  # the team's params: base = Llama 3.2 1B
    return tmp_path


def test_a_gated_base_model_without_access_stops_preflight_and_train_with_the_access_page(project, hub):
    hub.add_gated_repo(GATED, {"config.json": _tiny_config()})
    for command in ("preflight", "train"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 2, result.output
        assert f"model.base: {GATED} is gated" in result.output
        assert f"{hub.endpoint}/{GATED}" in result.output and "Traceback" not in result.output
    assert not Path("checkpoints").exists() and not Path("models").exists()  # stopped before anything was written


def test_with_the_license_accepted_preflight_reads_the_model(project, hub):
    hub.add_gated_repo(GATED, {"config.json": _tiny_config()}, granted=(HUB_TOKEN,))
    result = CliRunner().invoke(app, ["preflight"])
    assert result.exit_code == 0, result.output
    assert f"base model {GATED}: this token can read it" in result.output
    assert " parameters on" in result.output and "0.00 B" not in result.output  # a tiny model in its own unit


def test_a_large_base_model_on_a_cpu_runtime_stops_with_how_to_get_a_t4(project, hub):
    from transformers import LlamaConfig

    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.longrun import preflight

    one_b = LlamaConfig(
        vocab_size=128256,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        tie_word_embeddings=True,
    )
    one_b.save_pretrained(project / "big")  # a config alone: the check never loads weights
    Path("params.yaml").write_text("model:\n  base: big\n")
    result = CliRunner().invoke(app, ["preflight"])
    assert result.exit_code == 2, result.output
    assert "1.24 B parameters" in result.output and "Change runtime type > T4 GPU" in result.output
    assert "train.allow_cpu: true" in result.output
    with pytest.raises(InputError, match="this runtime has no GPU"):
        preflight.check_all(load_params(), CPU)
    assert CliRunner().invoke(app, ["set", "train.allow_cpu=true"]).exit_code == 0
    result = CliRunner().invoke(app, ["preflight"])
    assert result.exit_code == 0 and "1.24 B parameters" in result.output, result.output


def test_set_keeps_every_comment_and_the_order_of_params_yaml(project):
    before = Path("params.yaml").read_text()
    result = CliRunner().invoke(app, ["set", "hub.repo_id=me/kwanzaa", "hub.version=v2", "train.learning_rate=1e-4"])
    assert result.exit_code == 0, result.output
    after = Path("params.yaml").read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [b.split("#")[0].strip() for _, b in changed] == [
        "learning_rate: 1.0e-04",
        'repo_id: "me/kwanzaa"',
        "version: v2",
    ] or len(changed) == 3, changed
    for a, b in changed:  # the comment after each value survives as written
        assert b.partition("#")[2] == a.partition("#")[2]
    params = yaml.safe_load(after)
    assert (params["hub"]["repo_id"], params["hub"]["version"], params["train"]["learning_rate"]) == (
        "me/kwanzaa",
        "v2",
        1e-4,
    )


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("train.lora.rank=8", "train.lora.rank: unknown key"),
        ("hub.version=v1x", "hub.version: must be 'v'"),
        ("train.epochs", "expected KEY=VALUE"),
    ],
)
def test_set_refuses_what_the_schema_refuses_and_writes_nothing(project, assignment, message):
    before = Path("params.yaml").read_bytes()
    result = CliRunner().invoke(app, ["set", "hub.version=v3", assignment])
    assert result.exit_code == 2 and message in result.output, result.output
    assert Path("params.yaml").read_bytes() == before
