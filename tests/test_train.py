"""Training on the tiny Llama-3.x-format model with the real QLoRA path (bitsandbytes 4-bit on the CPU)."""

import json
import re
from pathlib import Path

import pytest
from transformers import TrainerCallback

from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.longrun import mirror as checkpoints
from kwanzaa_hub.runtime import chat, curves, qlora
from kwanzaa_hub.runtime.hardware import HardwareFacts, plan
from kwanzaa_hub.stages import data as data_stage
from kwanzaa_hub.stages import train as train_stage
from tests.conftest import REPO, write_jsonl

CPU = HardwareFacts("cpu", "test-cpu")


@pytest.fixture
def prepared(tmp_path, monkeypatch, example_samples, tiny_model_dir, tiny_tokenizer):
    """A prepared dataset (12 train, 4 eval) and params for a 4-step run, cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0][:12])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1][:4])

    def make(**train):
        raw = {
            "model": {"base": str(tiny_model_dir)},
            "train": {"max_steps": 4, "gradient_accumulation_steps": 2, "save_steps": 2, **train},
        }
        return parse_params(raw)

    params = make()
    data_stage.run(params, tokenizer=tiny_tokenizer)
    return make


def test_labels_train_exactly_the_answer_and_end_of_turn(prepared, tiny_tokenizer):
    params = prepared()
    trainer = qlora.build_trainer(params, plan(CPU))
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    assert len(ids) == len(labels)
    mask = [int(x != -100) for x in labels]
    assert [x for x in labels if x != -100] == [i for i, m in zip(ids, mask, strict=False) if m]
    trained = [i for i, m in zip(ids, mask, strict=False) if m]
    untrained = [i for i, m in zip(ids, mask, strict=False) if not m]
    sample = json.loads(Path("data/raw/kwanzaa_train.jsonl").read_text().splitlines()[0])
    answer = sample["messages"][-1]["content"].strip()
    # every answer token and the end-of-turn token are trained, nothing else
    assert tiny_tokenizer.decode(trained) == answer + "<|eot_id|>"
    untrained_text = tiny_tokenizer.decode(untrained)
    assert untrained_text == chat.render_text(
        tiny_tokenizer, sample["messages"][:-1], "26 Jul 2024", add_generation_prompt=True
    )
    for marker in ("<|start_header_id|>", "<|end_header_id|>", "system", sample["messages"][1]["content"][:40]):
        assert marker in untrained_text
    # the mask is one contiguous block at the end: prompt first, then answer
    first = mask.index(1)
    assert all(mask[first:]) and not any(mask[:first])
    # the collator keeps those labels: -100 on every prompt token
    batch = trainer.data_collator([row])
    collated = batch["labels"][0].tolist()
    assert [x for x in collated if x != -100] == trained
    assert collated[:first] == [-100] * first


def test_chat_date_is_pinned_in_training_tokens(prepared, tiny_tokenizer):
    trainer = qlora.build_trainer(prepared(), plan(CPU))
    text = tiny_tokenizer.decode(trainer.train_dataset[0]["input_ids"])
    assert "Today Date: 26 Jul 2024" in text
    # a template rendered without the pin writes today's date instead
    sample = json.loads(Path("data/raw/kwanzaa_train.jsonl").read_text().splitlines()[0])
    unpinned = tiny_tokenizer.apply_chat_template(sample["messages"], tokenize=False)
    assert "Today Date: 26 Jul 2024" not in unpinned


def test_four_bit_path_uses_linear4bit(prepared):
    import bitsandbytes as bnb

    trainer = qlora.build_trainer(prepared(), plan(CPU))
    kinds = {type(m) for m in trainer.model.modules()}
    assert bnb.nn.Linear4bit in kinds
    off = qlora.build_trainer(prepared(quantization={"enabled": False}), plan(CPU, quantize=False))
    assert bnb.nn.Linear4bit not in {type(m) for m in off.model.modules()}


def test_unknown_target_module_lists_the_models_layers(prepared):
    from kwanzaa_hub.errors import InputError

    with pytest.raises(
        InputError, match=r"\['qkv_proj'\] not in .*its linear layers are \['down_proj', 'gate_proj', 'k_proj'"
    ):
        qlora.build_trainer(prepared(lora={"target_modules": ["q_proj", "qkv_proj"]}), plan(CPU))


@pytest.mark.slow
def test_train_outputs_report_and_identical_bytes_on_rerun(prepared, tmp_path):
    import shutil

    params = prepared()
    result = train_stage.run(params, facts=CPU)
    adapter = tmp_path / "models/adapter"
    assert sorted(p.name for p in adapter.iterdir()) == [
        ".kwanzaa-hub",
        "adapter_config.json",
        "adapter_model.safetensors",
        "chat_template.jinja",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    first = (adapter / "adapter_model.safetensors").read_bytes()
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "<local>/base"  # no machine path travels with the adapter
    r = json.loads((tmp_path / "reports/train.json").read_text())
    assert r == result.report
    assert r["optimizer_steps"] == r["planned_steps"] == 4 and r["resumed_from_step"] == 0
    assert r["hw_precision"] == "fp32" and r["hw_quantize"] is True
    assert r["train_tokens"] > 0 and r["train_tokens_per_s"] > 0 and r["trainable_params"] > 0
    assert r["train_loss"] > 0 and r["eval_loss"] > 0
    assert (tmp_path / "dvclive/plots/metrics/train/loss.tsv").is_file() or (
        tmp_path / "dvclive/plots/metrics/loss.tsv"
    ).is_file()
    # `dvc repro -f train`: the finished run's checkpoint is restored, never trained further
    shutil.rmtree(tmp_path / "dvclive")  # a fresh VM: the curves are written again from the checkpoint's log
    again = train_stage.run(params, facts=CPU)
    assert again.report["optimizer_steps"] == again.report["planned_steps"] == 4
    assert again.report["resumed_from_step"] == 4 and again.report["restored"] is True
    assert again.report["runtime_s"] is None and again.report["train_loss"] == r["train_loss"]
    curve = next((tmp_path / "dvclive/plots/metrics").rglob("loss.tsv"))
    assert len(curve.read_text().splitlines()) >= 1 + 4  # header + a row per logged step (and the eval's)
    svg = (tmp_path / "dvclive/curves.svg").read_text()  # the offline picture, drawn again from the restored log
    assert svg.count("<polyline") == 2 + 3 and "(none logged)" not in svg  # 2 axes; train, eval loss, lr lines
    assert (adapter / "adapter_model.safetensors").read_bytes() == first
    # and without checkpoints it trains again from the start: the same data, params and seed give the same bytes
    shutil.rmtree(tmp_path / "checkpoints")
    train_stage.run(params, facts=CPU)
    assert (adapter / "adapter_model.safetensors").read_bytes() == first


class _Crash(TrainerCallback):
    """Simulates a disconnect right after the checkpoint of step ``at`` was written."""

    def __init__(self, at: int):
        self.at = at

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.at:
            raise KeyboardInterrupt("simulated disconnect")


@pytest.mark.slow
def test_rerun_after_interruption_resumes_from_last_checkpoint(prepared, tmp_path):
    params = prepared(save_steps=1)  # checkpoint-2 is rotated away (save_total_limit) before the rerun ends
    with pytest.raises(KeyboardInterrupt):
        train_stage.run(params, facts=CPU, callbacks=[_Crash(2)])
    assert (tmp_path / "checkpoints/checkpoint-2/trainer_state.json").is_file()
    assert not (tmp_path / "models/adapter").exists()
    before = checkpoints.tokens_seen(tmp_path / "checkpoints/checkpoint-2")
    result = train_stage.run(params, facts=CPU)
    assert result.report["resumed_from_step"] == 2
    assert not (tmp_path / "checkpoints/checkpoint-2").exists()
    # throughput counts only what this process trained, not the steps before the disconnect
    r = result.report
    assert 0 < before < r["train_tokens"] and r["train_tokens_this_run"] == r["train_tokens"] - before
    low, high = r["runtime_s"] - 0.05, r["runtime_s"] + 0.05  # the report rounds runtime and rate to 0.1
    this_run = r["train_tokens_this_run"]
    assert this_run / high - 0.05 <= r["train_tokens_per_s"] <= this_run / low + 0.05
    assert "trained steps 3-4 of 4 in" in train_stage.closing_line(r, params)
    assert not list((tmp_path / "data/prepared").rglob("cache-*"))  # the DVC output stays untouched
    assert result.report["optimizer_steps"] == 4
    # changed params start fresh
    changed = prepared(save_steps=1, learning_rate=1.0e-4)
    again = train_stage.run(changed, facts=CPU)
    assert again.report["resumed_from_step"] == 0


@pytest.mark.parametrize("target", ["folder", "hub"])
@pytest.mark.slow
def test_a_fresh_machine_resumes_from_the_mirrored_checkpoint(prepared, tmp_path, target, hub, repo_id):
    """Colab loses its disk on a disconnect: the rerun finds the newest checkpoint in the mirror."""
    import shutil

    drive = tmp_path.parent / f"{tmp_path.name}-drive"  # a mounted Drive: outside the project
    drive.mkdir()
    mirror = str(drive / "ckpts") if target == "folder" else "hub"
    extra = {"hub": {"repo_id": repo_id}} if target == "hub" else {}
    params = parse_params({**prepared(checkpoint_mirror=mirror).model_dump(mode="json"), **extra})
    with pytest.raises(KeyboardInterrupt):
        train_stage.run(params, facts=CPU, callbacks=[_Crash(2)])
    shutil.rmtree(tmp_path / "checkpoints")  # the VM's disk is gone
    shutil.rmtree(tmp_path / "dvclive")
    result = train_stage.run(params, facts=CPU)
    assert result.report["resumed_from_step"] == 2 and result.report["optimizer_steps"] == 4
    if target == "hub":
        from huggingface_hub import HfApi

        api = HfApi()
        assert api.model_info(repo_id).private is True
        assert [t.name for t in api.list_repo_refs(repo_id).tags] == []  # checkpoints are never a version
        files = api.list_repo_files(repo_id, revision="checkpoints")
        assert "fingerprint.txt" in files and any(f.startswith("checkpoint-4/") for f in files)
        assert not any(f.startswith("checkpoint-") for f in api.list_repo_files(repo_id, revision="main"))
    # changed params do not resume from the mirror
    changed = parse_params(
        {**prepared(checkpoint_mirror=mirror, learning_rate=1.0e-4).model_dump(mode="json"), **extra}
    )
    shutil.rmtree(tmp_path / "checkpoints")
    assert train_stage.run(changed, facts=CPU).report["resumed_from_step"] == 0


def test_train_with_a_hub_repo_stops_before_loading_when_the_token_is_read_only(prepared, hub, repo_id, monkeypatch):
    from kwanzaa_hub.errors import InputError
    from tests.conftest import HUB_READ_TOKEN

    monkeypatch.setenv("HF_TOKEN", HUB_READ_TOKEN)
    params = parse_params({**prepared().model_dump(mode="json"), "hub": {"repo_id": repo_id}})
    with pytest.raises(InputError, match="write access"):
        train_stage.run(params, facts=CPU)


def test_a_gated_base_model_fails_fast_with_how_to_fix_it(hub):
    """The data stage loads the base model's tokenizer first: a gated repo says where to request access
    (transformers wraps the Hub's GatedRepoError in an OSError; the whole chain is read)."""
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.runtime.models import load_tokenizer

    hub.add_gated_repo("meta-llama/Llama-3.2-1B-Instruct", {"config.json": b"{}"})
    with pytest.raises(InputError, match=r"meta-llama/Llama-3.2-1B-Instruct is gated.*Request access"):
        load_tokenizer("meta-llama/Llama-3.2-1B-Instruct")


def test_launch_command_for_one_and_many_processes(monkeypatch):
    from kwanzaa_hub.runtime.launch import launch_command

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert launch_command(parse_params({}), "params.yaml") is None
    cmd = launch_command(parse_params({"train": {"num_processes": 4}}), "p.yaml")
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--num_processes", "4"] and "--multi_gpu" in cmd
    assert cmd[-5:] == ["-m", "kwanzaa_hub.cli.app", "train", "--params", "p.yaml"]
    fsdp = launch_command(parse_params({"train": {"num_processes": 2, "accelerate_config": "fsdp.yaml"}}), "p.yaml")
    assert fsdp[fsdp.index("--config_file") + 1] == "fsdp.yaml" and "--multi_gpu" not in fsdp
    monkeypatch.setenv("LOCAL_RANK", "0")  # already inside a launched process: train here
    assert launch_command(parse_params({"train": {"num_processes": 4}}), "p.yaml") is None


@pytest.mark.slow
def test_two_process_ddp_on_the_cpu_with_gloo(make_dvc_project):
    import subprocess
    import sys

    project = make_dvc_project(
        {"train.max_steps": 4, "train.gradient_accumulation_steps": 1, "train.num_processes": 2, "train.save_steps": 2}
    )
    subprocess.run([sys.executable, "-m", "dvc", "repro", "data"], cwd=project, check=True, capture_output=True)
    proc = subprocess.run(["kwanzaa-hub", "train"], cwd=project, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    line = " ".join(out.split())
    assert "effective batch 2 (2 processes), 4 optimizer steps, 66 samples, ~" in line and "tokens to train" in line
    state = json.loads((project / "checkpoints/checkpoint-4/trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["train_batch_size"] == 1
    report = json.loads((project / "reports/train.json").read_text())
    assert report["optimizer_steps"] == 4
    assert (project / "models/adapter/adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_padding_free_batches_give_the_same_loss_as_padded_ones(prepared):
    """Samples concatenated into one row must not see each other: same loss as the padded batch."""
    import torch

    padded = qlora.build_trainer(
        prepared(per_device_batch_size=4, quantization={"enabled": False}), plan(CPU, quantize=False)
    )
    free = qlora.build_trainer(
        prepared(per_device_batch_size=4, padding_free=True, quantization={"enabled": False}), plan(CPU, quantize=False)
    )
    rows = [padded.train_dataset[i] for i in range(4)]
    a, b = padded.data_collator(rows), free.data_collator(rows)
    assert b["input_ids"].shape[0] == 1 and "attention_mask" not in b  # one row, no padding
    assert b["input_ids"].shape[1] == sum(len(r["input_ids"]) for r in rows)
    assert (a["labels"] != -100).sum() == (b["labels"] != -100).sum()
    model = padded.model.eval()
    with torch.no_grad():
        loss_padded = model(**{k: v for k, v in a.items() if k != "completion_mask"}).loss
        loss_free = model(**{k: v for k, v in b.items() if k != "completion_mask"}).loss
        leaky = model(
            **{k: v for k, v in b.items() if k != "completion_mask"}, attention_mask=torch.ones_like(b["input_ids"])
        ).loss  # one causal mask over all samples
    assert torch.allclose(loss_padded, loss_free, atol=1e-4), (loss_padded, loss_free)
    assert not torch.allclose(leaky, loss_free, atol=1e-4)  # the check can tell samples that see each other


def test_the_line_before_training_says_device_precision_steps_and_time(prepared):
    params = prepared()
    trainer = qlora.build_trainer(params, plan(CPU))
    line = train_stage.summary_line(params, plan(CPU), CPU, trainer, None)
    assert line.startswith("train: test-cpu (cpu), fp32, 4-bit nf4, ")
    assert "4 optimizer steps" in line and "tokens to train" in line
    assert "estimated under a minute of steps (loading and eval not counted" in line  # not "about 1 s"


def test_the_sft_config_takes_run_control_but_no_recipe_key():
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware, qlora

    params = load_params(REPO / "params.yaml")
    plan = qlora.training_plan(params, hardware.HardwareFacts("cpu", "test"))
    config = qlora.sft_config(params, plan, save_strategy="no", disable_tqdm=True)
    assert (config.save_strategy.value, config.disable_tqdm, config.learning_rate) == ("no", True, 1e-3)
    with pytest.raises(ValueError, match=r"\['learning_rate'\] belong to the recipe"):
        qlora.sft_config(params, plan, learning_rate=2e-4)


def test_the_sft_config_uses_transformers_5_names_and_warns_nothing():
    import warnings

    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware

    params = load_params(REPO / "params.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # `gradient_checkpointing` is deprecated ... in v6
        config = qlora.sft_config(params, qlora.training_plan(params, hardware.HardwareFacts("cpu", "test")))
    assert config.activation_checkpointing is params.train.gradient_checkpointing is True
    assert config.activation_checkpointing_kwargs == {"use_reentrant": False}


def test_a_quantized_trainer_warns_nothing_and_logs_one_line_per_step(prepared, capsys):
    """peft's calls of transformers' deprecated aliases are silenced (``runtime.quiet``, which every command runs
    first); building the trainer shows no bar; training shows no bar either, and for each logging step one line a
    person reads (loss, learning rate, tokens/s, time left) where the Trainer wrote a Python dict of raw keys; its
    closing summary is left to the stage's last line."""
    import warnings

    from transformers import PrinterCallback, ProgressCallback, TrainerControl, TrainerState

    from kwanzaa_hub.runtime.progress import StepLines
    from kwanzaa_hub.runtime.quiet import quiet_libraries

    params = prepared()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_libraries()
        trainer = qlora.build_trainer(params, plan(CPU))  # 4-bit on CPU: prepare_model_for_kbit_training runs
    assert [str(w.message) for w in seen if issubclass(w.category, FutureWarning)] == []
    err = capsys.readouterr().err  # no bar for loading the weights or TRL's passes over the data
    assert "Loading weights" not in err and "Tokenizing train dataset" not in err, err
    callbacks = trainer.callback_handler.callbacks
    assert not [c for c in callbacks if isinstance(c, (ProgressCallback, PrinterCallback))]
    (lines,) = [c for c in callbacks if isinstance(c, StepLines)]
    state = TrainerState(max_steps=30, global_step=0, num_input_tokens_seen=0)
    lines.on_train_begin(trainer.args, state, TrainerControl())
    lines._start = (lines._start[0] - 3.0, 0, 0)  # three seconds ago
    state.global_step, state.num_input_tokens_seen = 3, 9000
    logs = {"loss": 7.40512, "grad_norm": 0.4844, "learning_rate": 1e-4, "total_flos": 12.0, "epoch": 0.09}
    lines.on_log(trainer.args, state, TrainerControl(), logs=logs)
    lines.on_log(trainer.args, state, TrainerControl(), logs={"eval_loss": 7.14237, "eval_runtime": 1.0})
    lines.on_log(trainer.args, state, TrainerControl(), logs={"train_runtime": 11.0, "train_loss": 7.2})
    printed = capsys.readouterr().err
    first, second = printed.splitlines()
    assert re.fullmatch(r"step 3/30  loss 7\.4051  lr 1\.00e-04  (2,9\d\d|3,000) tokens/s  eta 0:2[67]", first), first
    assert second == "step 3/30  eval loss 7.1424"
    assert "{" not in printed and "total_flos" not in printed and "\r" not in printed


TEMPLATE = '[This answer would synthesize multiple sources to explain "Umoja" and cite them: [1]]'


def _trainers_by_policy(tmp_path, example_samples, tiny_model_dir, tiny_tokenizer, answer_format) -> dict:
    """The same data, the first train sample's answer text a template, prepared and tokenized under keep and
    under mask."""
    train = json.loads(json.dumps(example_samples[0][:12]))
    answer = json.loads(train[0]["messages"][-1]["content"])
    answer["answer"]["text"] = TEMPLATE
    train[0]["messages"][-1]["content"] = json.dumps(answer, indent=2)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", train)
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1][:4])
    trainers = {}
    for policy in ("keep", "mask"):
        data = {"placeholders": policy, "answer_format": answer_format, "prepared_dir": f"prepared-{policy}"}
        params = parse_params({"model": {"base": str(tiny_model_dir)}, "data": data, "train": {"max_steps": 1}})
        data_stage.run(params, tokenizer=tiny_tokenizer)
        trainers[policy] = qlora.build_trainer(params, plan(CPU))
    return trainers


@pytest.mark.parametrize("answer_format", ["as_written", "compact"])
def test_mask_takes_the_template_texts_tokens_out_of_the_loss_and_trains_the_rest_of_the_answer(
    tmp_path, monkeypatch, example_samples, tiny_model_dir, tiny_tokenizer, answer_format
):
    monkeypatch.chdir(tmp_path)
    trainers = _trainers_by_policy(tmp_path, example_samples, tiny_model_dir, tiny_tokenizer, answer_format)
    keep, mask = trainers["keep"].train_dataset, trainers["mask"].train_dataset
    row = mask[0]
    ids, labels = row["input_ids"], row["labels"]
    assert ids == keep[0]["input_ids"] and len(labels) == len(ids)
    messages = keep[0]["prompt"] + keep[0]["completion"]
    head = len(chat.render_ids(tiny_tokenizer, messages[:-1], "26 Jul 2024", add_generation_prompt=True))
    assert labels[:head] == [-100] * head  # the prompt is masked as before
    answer = tiny_tokenizer.decode(ids[head:])
    assert answer == messages[-1]["content"].strip() + "<|eot_id|>"
    encoded = json.dumps(TEMPLATE)[1:-1]  # the text as the answer's JSON writes it (quotes escaped)
    at = answer.index(encoded)
    # token by token: masked exactly when it covers a character of the template, its own id otherwise
    for i in range(head, len(ids)):
        start, end = len(tiny_tokenizer.decode(ids[head:i])), len(tiny_tokenizer.decode(ids[head : i + 1]))
        covers = start < at + len(encoded) and end > at
        assert labels[i] == (-100 if covers else ids[i]), (i, tiny_tokenizer.decode(ids[i : i + 1]))
    masked = [i for i in range(head, len(ids)) if labels[i] == -100]
    assert encoded in tiny_tokenizer.decode(ids[masked[0] : masked[-1] + 1])
    assert len(masked) < len(ids) - head - 20  # keys, sources, summary and the end of turn are trained
    assert trainers["mask"].data_collator([row])["labels"][0].tolist() == labels  # what the loss sees
    # a sample without a template is unchanged by mask, in both splits
    assert len(mask) == len(keep) and all(mask[k]["labels"] == keep[k]["labels"] for k in range(1, len(keep)))
    evals = trainers["keep"].eval_dataset, trainers["mask"].eval_dataset
    assert [r["labels"] for r in evals[0]] == [r["labels"] for r in evals[1]]
    assert "loss_masked_chars" not in mask.column_names


def test_an_experiment_writes_nothing_to_the_hub_unless_a_folder_mirror_is_set(monkeypatch, capsys, tmp_path):
    """``dvc exp run`` (DVC sets these variables for its stages only) keeps checkpoints local: the 'hub' mirror,
    the default, is off and says so once on stderr; ``dvc repro`` mirrors to the Hub; a folder mirror still works."""
    import dvc.env

    assert {dvc.env.DVC_EXP_NAME, dvc.env.DVC_EXP_BASELINE_REV} == set(checkpoints.EXPERIMENT_ENV)
    for key in checkpoints.EXPERIMENT_ENV:
        monkeypatch.delenv(key, raising=False)
    params = parse_params({"hub": {"repo_id": "me/adapter"}, "train": {"checkpoint_mirror": "hub"}})
    assert isinstance(checkpoints.mirror_for(params), checkpoints.HubMirror)  # dvc repro: mirrored to the Hub

    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "0" * 40)
    monkeypatch.setenv("DVC_EXP_NAME", "lr1e-4")
    capsys.readouterr()
    assert checkpoints.mirror_for(params) is None and checkpoints.mirror_for(params) is None
    said = capsys.readouterr().err
    assert (
        said.count("train: experiment lr1e-4: checkpoints stay local (checkpoints/), nothing is written to me/adapter")
        == 1
    )
    folder = parse_params({"hub": {"repo_id": "me/adapter"}, "train": {"checkpoint_mirror": str(tmp_path / "m")}})
    assert isinstance(checkpoints.mirror_for(folder), checkpoints.DirMirror)


def test_the_curves_picture_draws_loss_and_learning_rate_from_the_log():
    history = [
        {"step": 1, "loss": 3.0, "learning_rate": 2e-4},
        {"step": 2, "loss": 2.0, "learning_rate": 1e-4},
        {"step": 2, "eval_loss": 2.5},
        {"step": 2, "train_loss": 2.5, "train_runtime": 9.0},  # the summary: no curve of its own
    ]
    svg = curves.curves_svg(history)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>\n")
    assert svg.count('r="2.5"') == 2 + 1 + 2  # a dot per logged point: train loss, eval loss, learning rate
    assert ">0.0002<" in svg and ">0.0001<" in svg and ">3<" in svg and ">2<" in svg  # axis ends
    assert "&#9632; eval loss<" in svg
    empty = curves.curves_svg([])
    assert empty.count("nothing logged") == 2
