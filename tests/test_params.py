import pytest

from kwanzaa_hub.config.params import Params, load_params, parse_params
from kwanzaa_hub.errors import ParamsError
from tests.conftest import REPO


def test_repo_params_yaml_holds_the_mission_defaults():
    p = load_params(REPO / "params.yaml")
    assert p.model.base == "meta-llama/Llama-3.2-1B-Instruct"
    q = p.train.quantization
    assert (q.enabled, q.quant_type, q.double_quant) == (True, "nf4", True)
    lora = p.train.lora
    assert (lora.r, lora.alpha, lora.dropout) == (16, 32, 0.05)
    assert lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    t = p.train
    assert (t.epochs, t.max_steps, t.per_device_batch_size, t.gradient_accumulation_steps) == (3, -1, 1, 8)
    assert (t.learning_rate, t.lr_scheduler, t.seed) == (1e-3, "cosine", 42)  # 1e-3 on evidence: BENCHMARKS.md
    assert t.warmup_ratio > 0
    assert (p.hub.private, p.hub.version) == (True, "v1")
    # params.yaml spells out every key: its content equals the class defaults
    assert p == Params()


def test_unknown_key_is_named():
    with pytest.raises(ParamsError) as exc:
        parse_params({"train": {"lora": {"rank": 8}}})
    assert "train.lora.rank: unknown key" in str(exc.value)


def test_mistyped_values_are_named_and_all_collected():
    with pytest.raises(ParamsError) as exc:
        parse_params({"train": {"lora": {"r": "sixteen"}, "learning_rate": "2e-4"}, "eval": {"batch_size": 0}})
    msg = str(exc.value)
    assert "train.lora.r:" in msg and "'sixteen'" in msg
    assert "train.learning_rate:" in msg  # YAML reads 2e-4 (no dot) as a string: caught, not coerced
    assert "eval.batch_size:" in msg


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"train": {"max_steps": 0}}, "train.max_steps"),
        ({"train": {"max_steps": -5}}, "train.max_steps"),
        ({"train": {"lora": {"r": 0}}}, "train.lora.r"),
        ({"data": {"overflow": "truncate"}}, "data.overflow"),
        ({"hub": {"repo_id": "just-a-name"}}, "hub.repo_id"),
        ({"hub": {"version": "1.0"}}, "hub.version"),
        ({"hub": {"version": "v0"}}, "hub.version"),
        ({"train": {"precision": "tf32"}}, "train.precision"),
    ],
)
def test_bad_values_rejected(raw, key):
    with pytest.raises(ParamsError) as exc:
        parse_params(raw)
    assert f"{key}:" in str(exc.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(bad)


def test_overrides_set_dotted_keys_and_are_validated_like_the_file():
    from kwanzaa_hub.config.params import with_overrides

    base = load_params(REPO / "params.yaml")
    changed = with_overrides(base, {"train.lora.r": 32, "train.per_device_batch_size": 4})
    assert (changed.train.lora.r, changed.train.per_device_batch_size) == (32, 4)
    assert changed.train.lora.alpha == base.train.lora.alpha and base.train.lora.r == 16  # the rest, and base, kept
    with pytest.raises(ParamsError, match=r"bench: train\.lora\.rank: unknown key"):
        with_overrides(base, {"train.lora.rank": 8}, source="bench")
    with pytest.raises(ParamsError, match=r"bench: train\.lora\.r: Input should be greater than 0"):
        with_overrides(base, {"train.lora.r": 0}, source="bench")


def test_the_params_check_refuses_an_alias_bomb_before_dvc_would_read_it(tmp_path):
    """DVC expands a YAML alias bomb in params.yaml (minutes, gigabytes) before any stage runs and has no hook: the
    documented check (``kwanzaa-hub check-params``) refuses it in one line, exit 2, without expanding it."""
    import subprocess
    import sys
    import time

    from tests.test_resolved import BOMB

    (tmp_path / "params.yaml").write_text(BOMB)
    start = time.monotonic()
    bomb = subprocess.run(
        [sys.executable, "-m", "kwanzaa_hub.cli.app", "check-params"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - start < 30
    assert bomb.returncode == 2 and bomb.stdout == ""
    assert bomb.stderr.strip().splitlines() == [
        "error: params.yaml:1: not a valid params file: anchors and aliases (&name, *name) are not accepted in a "
        "params file"
    ]
    (tmp_path / "mine.yaml").write_text("train:\n  seed: 7\n")
    sound = subprocess.run(
        [sys.executable, "-m", "kwanzaa_hub.cli.app", "check-params", "mine.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert sound.returncode == 0, sound.stderr
    assert sound.stdout == "mine.yaml: sound (no anchors or aliases, every key known and valid); DVC may read it\n"
    typo = subprocess.run(
        [sys.executable, "-m", "kwanzaa_hub.cli.app", "check-params", "typo.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert typo.returncode == 2 and "typo.yaml: not found" in typo.stderr


def test_the_memory_check_of_the_params_check_sees_no_expansion(tmp_path):
    import tracemalloc

    from kwanzaa_hub.config.check import check
    from kwanzaa_hub.errors import KwanzaaError
    from tests.test_resolved import BOMB

    (tmp_path / "params.yaml").write_text(BOMB)
    tracemalloc.start()
    with pytest.raises(KwanzaaError) as refused:
        check(tmp_path / "params.yaml")
    assert refused.value.exit_code == 2
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # 9**7 items were never built


@pytest.mark.parametrize("typed", ["1234e567", "1234567", "yes", "null", "off", "0x1f", "1.5"])
def test_set_keeps_text_as_typed_where_the_key_takes_only_text(tmp_path, monkeypatch, typed):
    """``set model.revision=1234e567`` was read as ``inf`` (and refused without a hint): a key that holds text keeps
    what was typed, quoted so that the stages (YAML 1.1) and DVC (YAML 1.2) both read that text."""
    from dvc.utils.serialize import parse_yaml
    from typer.testing import CliRunner

    from kwanzaa_hub.cli.app import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = CliRunner().invoke(app, ["set", f"model.revision={typed}"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "params.yaml").read_text()
    assert f"  revision: '{typed}'\n" in text
    assert load_params(tmp_path / "params.yaml").model.revision == typed
    assert parse_yaml(text, "params.yaml")["model"]["revision"] == typed  # as DVC reads it


def test_a_hand_written_value_yaml_reads_as_a_number_where_text_is_wanted_says_to_quote_it(tmp_path):
    (tmp_path / "params.yaml").write_text("model:\n  revision: 1234567\n")
    with pytest.raises(ParamsError) as exc:
        load_params(tmp_path / "params.yaml")
    assert str(exc.value).splitlines()[1].strip() == (
        f"{tmp_path / 'params.yaml'}: model.revision: expected text, but YAML reads this value as a number (1234567): "
        "write it in quotes (revision: '...'), or set it with `kwanzaa-hub set`, which keeps what you type as text"
    )
    (tmp_path / "params.yaml").write_text("data:\n  overflow: no\n")
    with pytest.raises(ParamsError, match=r"data\.overflow: expected text, but YAML reads this value as a boolean"):
        load_params(tmp_path / "params.yaml")


def test_set_writes_a_number_as_typed_beside_a_comment_that_stays_true(tmp_path, monkeypatch):
    """``set train.learning_rate=2e-4`` left ``0.0002 # not the usual 2e-4...``: the number keeps how it was typed
    (``2.0e-4``: YAML 1.1 reads a bare ``2e-4`` as text); the comment, the user's text, is kept as written, and the
    shipped one speaks of the default, so it stays true whatever the value."""
    from dvc.utils.serialize import parse_yaml
    from typer.testing import CliRunner

    from kwanzaa_hub.cli.app import app

    monkeypatch.chdir(tmp_path)
    original = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(original)
    assert "  learning_rate: 1.0e-3 # default 1e-3, not the usual 2e-4: BENCHMARKS.md" in original
    result = CliRunner().invoke(app, ["set", "train.learning_rate=2e-4", "train.lora.dropout=1e-1"])
    assert result.exit_code == 0, result.output
    assert "set train.learning_rate: 0.001 -> 2.0e-4" in result.output
    text = (tmp_path / "params.yaml").read_text()
    assert "  learning_rate: 2.0e-4 # default 1e-3, not the usual 2e-4: BENCHMARKS.md" in text
    assert "    dropout: 1.0e-1\n" in text
    params = load_params(tmp_path / "params.yaml")
    assert (params.train.learning_rate, params.train.lora.dropout) == (2e-4, 0.1)
    assert parse_yaml(text, "params.yaml")["train"]["learning_rate"] == 2e-4  # as DVC reads it
    result = CliRunner().invoke(app, ["set", "train.learning_rate=3e-4"])
    assert "  learning_rate: 3.0e-4 # default 1e-3, not the usual" in (tmp_path / "params.yaml").read_text()
    result = CliRunner().invoke(app, ["set", "train.learning_rate=1.0e-3", "train.lora.dropout=0.05"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "params.yaml").read_text() == original  # back to the values: back to the file
