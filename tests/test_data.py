import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.contract.samples import check_file
from kwanzaa_hub.errors import DataValidationError
from kwanzaa_hub.stages import data as data_stage
from tests.conftest import write_jsonl

runner = CliRunner()


def _validate(*paths) -> tuple[int, str]:
    result = runner.invoke(app, ["validate", *map(str, paths)], terminal_width=200)
    return result.exit_code, result.output


@pytest.fixture
def good(example_samples):
    return [json.loads(json.dumps(s)) for s in example_samples[0][:3]]


def _answer(sample: dict) -> dict:
    return json.loads(sample["messages"][-1]["content"])


def _set_answer(sample: dict, answer: dict) -> dict:
    sample["messages"][-1]["content"] = json.dumps(answer)
    return sample


def test_example_data_validates_clean(tmp_path):
    from kwanzaa_hub.devtools import example_data

    train, held = example_data.write(tmp_path)
    code, out = _validate(train, held)
    assert code == 0, out
    assert "error" not in out.lower().replace("errors", "")


def test_malformed_json_line(tmp_path, good):
    f = write_jsonl(tmp_path / "t.jsonl", [good[0], '{"messages": [', good[1]])
    code, out = _validate(f)
    assert code == 2
    assert f"{f}:2: not valid JSON" in out


def test_bad_utf8(tmp_path, good):
    f = tmp_path / "t.jsonl"
    f.write_bytes(json.dumps(good[0]).encode() + b"\n" + b'{"messages": "\xff\xfe"}\n')
    code, out = _validate(f)
    assert code == 2 and f"{f}:2: not UTF-8" in out


def test_crlf_and_bom_are_accepted(tmp_path, good):
    f = tmp_path / "t.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(g).encode() + b"\r\n" for g in good))
    check = check_file(f, "train")
    assert not check.errors and len(check.samples) == 3


def test_json_array_instead_of_jsonl(tmp_path, good):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps(good))
    code, out = _validate(f)
    assert code == 2 and f"{f}:1: found a JSON array" in out


def test_wrong_role_order(tmp_path, good):
    good[1]["messages"] = list(reversed(good[1]["messages"]))
    f = write_jsonl(tmp_path / "t.jsonl", good)
    code, out = _validate(f)
    assert code == 2 and f"{f}:2: messages: expected roles system?, user, assistant" in out


def test_assistant_not_json(tmp_path, good):
    good[2]["messages"][-1]["content"] = "Kwanzaa starts on December 26 [1]."
    f = write_jsonl(tmp_path / "t.jsonl", good)
    code, out = _validate(f)
    assert code == 2 and f"{f}:3: assistant message: not valid JSON" in out


def test_contract_violation(tmp_path, good):
    a = _answer(good[0])
    a["answer"]["completeness"] = "finished"
    f = write_jsonl(tmp_path / "t.jsonl", [_set_answer(good[0], a)])
    code, out = _validate(f)
    assert code == 2 and f"{f}:1: assistant answer.completeness" in out and "'finished'" in out


def test_citation_to_missing_document(tmp_path, good):
    a = _answer(good[0])
    a["answer"]["text"] += " Also [9]."
    f = write_jsonl(tmp_path / "t.jsonl", [_set_answer(good[0], a)])
    code, out = _validate(f)
    assert code == 2 and f"{f}:1: answer.text cites [9] but the user message retrieved documents" in out


def test_source_not_among_retrieved(tmp_path, good):
    a = _answer(good[0])
    a["sources"][0]["canonical_url"] = "https://made-up.example/x"
    f = write_jsonl(tmp_path / "t.jsonl", [_set_answer(good[0], a)])
    code, out = _validate(f)
    assert code == 2 and "sources[0].canonical_url 'https://made-up.example/x' is not the URL" in out


def test_empty_file(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text("\n\n")
    code, out = _validate(f)
    assert code == 2 and "no samples (the file is empty)" in out


def test_control_character(tmp_path, good):
    good[0]["messages"][1]["content"] += "\x07"
    f = write_jsonl(tmp_path / "t.jsonl", good)
    code, out = _validate(f)
    assert code == 2 and f"{f}:1: messages[1] (user): control character U+0007" in out


def test_a_50_mb_line_is_refused_by_size(tmp_path, good):
    f = write_jsonl(tmp_path / "t.jsonl", [good[0], '{"messages": "' + "x" * 50_000_000 + '"}', good[1]])
    code, out = _validate(f)
    assert code == 2 and f"{f}:2: line is 50,000,016 bytes; a sample must be under 5,000,000" in out


def test_deep_nesting_is_an_error_not_a_crash(tmp_path, good):
    good[0]["messages"][-1]["content"] = "[" * 10000 + "]" * 10000
    f = write_jsonl(tmp_path / "t.jsonl", good)
    code, out = _validate(f)
    assert code == 2 and f"{f}:1:" in out


def test_refusal_citing_context_is_counted_not_rejected(tmp_path, example_samples):
    sample = json.loads(
        json.dumps(next(s for s in example_samples[0] if _answer(s)["answer"]["completeness"] == "complete"))
    )
    a = _answer(sample)
    a["answer"]["completeness"] = "insufficient_data"
    check = check_file(write_jsonl(tmp_path / "t.jsonl", [_set_answer(sample, a)]), "train")
    assert not check.errors
    assert check.refusals_citing_context == 1 and check.samples[0].category == "refusal"


def test_sources_count_mismatch_is_a_warning(tmp_path, good):
    a = _answer(good[0])
    a["sources"] = a["sources"] + a["sources"]
    check = check_file(write_jsonl(tmp_path / "t.jsonl", [_set_answer(good[0], a)]), "train")
    assert not check.errors
    assert any("2 sources listed but 1 distinct documents cited" in w for w in check.warnings)


# ---- the whole stage --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Outputs are relative paths inside the project: every test runs in its own folder."""
    monkeypatch.chdir(tmp_path)


def _params(tmp_path, **data):
    return parse_params(
        {
            "data": {
                "train_file": str(tmp_path / "train.jsonl"),
                "eval_file": str(tmp_path / "eval.jsonl"),
                "prepared_dir": "prepared",
                "report": "report.json",
                **data,
            },
        }
    )


def test_stage_writes_prepared_dataset_and_report(tmp_path, example_samples, tiny_tokenizer, capsys):
    from datasets import load_from_disk

    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    result = data_stage.run(_params(tmp_path), tokenizer=tiny_tokenizer)
    assert "Saving the dataset" not in capsys.readouterr().err  # no bar per split for a few ms of work
    report = json.loads((tmp_path / "report.json").read_text())
    assert report == result.report
    assert report["train"]["samples"] == 66 and report["eval"]["samples"] == 24
    assert report["train"]["categories"] == {
        "grounded": 30,
        "multi_source": 12,
        "partial": 10,
        "refusal": 14,
        "uncited": 0,
    }
    assert report["overflow"] == 0 and report["warnings"] == 0
    ds = load_from_disk(str(tmp_path / "prepared"))
    assert ds["train"].num_rows == 66
    row = ds["train"][0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert [m["role"] for m in row["completion"]] == ["assistant"]
    assert row["chat_template_kwargs"] == {"date_string": "26 Jul 2024"}
    assert 0 < row["n_answer_tokens"] < row["n_tokens"]
    assert report["train"]["tokens"]["max"] == max(ds["train"]["n_tokens"])


def test_overflow_error_names_samples_and_fitting_length(tmp_path, example_samples, tiny_tokenizer):
    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    with pytest.raises(DataValidationError) as exc:
        data_stage.run(_params(tmp_path, max_length=700), tokenizer=tiny_tokenizer)
    msg = str(exc.value)
    assert "tokens > data.max_length 700" in msg and "train.jsonl:" in msg
    assert "set data.max_length to at least" in msg
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "report.json").exists()


def test_overflow_drop_counts_and_lists(tmp_path, example_samples, tiny_tokenizer):
    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    lengths = [
        data_stage.chat.measure(tiny_tokenizer, s["messages"], "26 Jul 2024").total
        for s in example_samples[0] + example_samples[1]
    ]
    expected = sum(n > 700 for n in lengths)
    assert expected > 0
    result = data_stage.run(_params(tmp_path, max_length=700, overflow="drop"), tokenizer=tiny_tokenizer)
    assert result.report["overflow"] == expected == len(result.report["dropped_samples"])
    assert result.report["train"]["samples"] + result.report["eval"]["samples"] == 90 - expected
    assert result.report["train"]["tokens"]["max"] <= 700


def test_leakage_identical_prompt_fails(tmp_path, example_samples, tiny_tokenizer):
    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1] + [example_samples[0][4]])
    with pytest.raises(DataValidationError) as exc:
        data_stage.run(_params(tmp_path), tokenizer=tiny_tokenizer)
    assert f"{tmp_path / 'eval.jsonl'}:25: identical prompt to {tmp_path / 'train.jsonl'}:5" in str(exc.value)
    assert not (tmp_path / "prepared").exists()


def test_same_query_other_persona_is_a_warning(tmp_path, example_samples, tiny_tokenizer):
    leaked = json.loads(json.dumps(example_samples[0][4]))
    leaked["messages"][0]["content"] = "You are someone else entirely."
    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1] + [leaked])
    result = data_stage.run(_params(tmp_path), tokenizer=tiny_tokenizer)
    assert any("same query as" in w for w in result.warnings)


def test_cli_data_exit_code_and_no_outputs_on_error(tmp_path, example_samples, tiny_model_dir, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    bad = json.loads(json.dumps(example_samples[0][0]))
    bad["messages"][-1]["content"] = "not json"
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0] + [bad])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1])
    Path("params.yaml").write_text(yaml.safe_dump({"model": {"base": str(tiny_model_dir)}}))
    result = runner.invoke(app, ["data"], terminal_width=200)
    assert result.exit_code == 2
    assert "data/raw/kwanzaa_train.jsonl:67: assistant message: not valid JSON" in result.output
    assert not Path("data/prepared").exists() and not Path("reports/data.json").exists()


# ---- the team's real data (skipped without ../shared) -------------------------------------------


def test_validate_passes_the_real_data(shared_data):
    code, out = _validate(shared_data / "kwanzaa_train.jsonl", shared_data / "kwanzaa_eval.jsonl")
    assert code == 0, out
    assert "warning" in out  # the 19 schema deviations and missing optional fields are reported


def test_stage_on_real_data_reports_lengths_and_overflow(tmp_path, shared_data, tiny_tokenizer):
    params = parse_params(
        {
            "data": {
                "train_file": str(shared_data / "kwanzaa_train.jsonl"),
                "eval_file": str(shared_data / "kwanzaa_eval.jsonl"),
                "prepared_dir": "prepared",
                "report": "report.json",
                "max_length": 3000,
                "overflow": "drop",
            }
        }
    )
    result = data_stage.run(params, tokenizer=tiny_tokenizer)
    r = result.report
    assert r["train"]["samples"] + r["eval"]["samples"] + r["overflow"] == 134
    assert r["overflow"] > 0 and len(r["dropped_samples"]) == r["overflow"]
    assert r["train"]["tokens"]["max"] <= 3000
    assert r["warnings"] > 0
    assert r["train"]["categories"]["refusal"] > 0


def _with_placeholder(sample: dict) -> dict:
    messages = json.loads(json.dumps(sample["messages"]))
    answer = json.loads(messages[-1]["content"])
    cited = answer["answer"]["text"]
    answer["answer"]["text"] = "[Generated answer for: a question] This answer would cite sources: " + " ".join(
        f"[{n}]" for n in sorted(set(int(x) for x in __import__("re").findall(r"\[(\d+)\]", cited)))
    )
    messages[-1]["content"] = json.dumps(answer)
    return {"messages": messages}


@pytest.mark.parametrize("policy", ["keep", "drop", "mask", "error"])
def test_placeholder_answers_are_counted_with_their_line_and_the_policy_decides(
    policy, tmp_path, monkeypatch, example_samples, tiny_tokenizer
):
    from datasets import load_from_disk

    from kwanzaa_hub.cli.tables import print_data_summary
    from kwanzaa_hub.console import console

    monkeypatch.chdir(tmp_path)
    train = list(example_samples[0])
    train[2] = _with_placeholder(train[2])
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    params = _params(tmp_path, placeholders=policy, decoding_schema="schema.json")
    if policy == "error":
        with pytest.raises(DataValidationError, match=r"train.jsonl:3 \(generated_for\): answer.text is a template"):
            data_stage.run(params, tokenizer=tiny_tokenizer)
        assert not (tmp_path / "report.json").exists() and not (tmp_path / "schema.json").exists()
        return
    report = data_stage.run(params, tokenizer=tiny_tokenizer).report
    assert report["placeholders"] == {"train": 1, "eval": 0}
    assert report["placeholder_samples"] == [f"{tmp_path / 'train.jsonl'}:3 (generated_for)"]
    assert report["train"]["samples"] == (65 if policy == "drop" else 66)
    assert any("train.jsonl:3 (generated_for): answer.text is a template" in w for w in report["warning_list"])
    # mask: kept, its text's tokens out of the loss (the train stage masks them; tests/test_train.py), counted
    masked = report["placeholders_masked"]
    assert masked["train"]["samples"] == (policy == "mask") and masked["eval"]["samples"] == 0
    assert (masked["train"]["answer_tokens"] > 0) == (policy == "mask") and masked["eval"]["answer_tokens"] == 0
    assert masked["train"]["of_answer_tokens"] > 20 * max(masked["train"]["answer_tokens"], 1)
    assert json.loads((tmp_path / "report.json").read_text())["placeholders_masked"] == masked
    spans = load_from_disk("prepared")["train"]["loss_masked_chars"] if policy == "mask" else None
    assert spans is None or (sum(map(bool, spans)) == 1 and spans[2] and not spans[0])
    with console.capture() as shown:
        print_data_summary(report, [])
    assert (
        f"mask: 1 train sample(s) trained without their text, {masked['train']['answer_tokens']:,} of" in shown.get()
    ) == (policy == "mask")
    schema = json.loads((tmp_path / "schema.json").read_text())
    assert schema["title"] == "kwanzaa.answer.v1" and schema["x-guidance"]["item_separator"] == ", "


def test_the_team_data_has_65_train_and_14_eval_placeholder_answers(shared_data):
    from kwanzaa_hub.contract.placeholders import placeholder_kind

    def kinds(name: str) -> dict:
        found: dict = {}
        for line in (shared_data / name).read_text().splitlines():
            text = json.loads(json.loads(line)["messages"][-1]["content"])["answer"]["text"]
            kind = placeholder_kind(text)
            if kind:
                found[kind] = found.get(kind, 0) + 1
        return found

    assert kinds("kwanzaa_train.jsonl") == {"generated_for": 14, "would_synthesize": 43, "demonstrates_format": 8}
    assert kinds("kwanzaa_eval.jsonl") == {"generated_for": 6, "would_synthesize": 7, "demonstrates_format": 1}


def test_compact_answers_are_one_line_in_the_decoders_form_and_the_schema_follows(
    tmp_path, example_samples, tiny_tokenizer
):
    """The files write answers pretty-printed; ``answer_format: compact`` trains and scores them on one line, byte
    for byte what the constrained decoder writes, and the decoding schema takes the one-line style. ``as_written``
    keeps the files' text."""
    from datasets import load_from_disk

    from kwanzaa_hub.contract import decoding_schema as answer_schema

    def pretty(sample: dict) -> dict:
        messages = json.loads(json.dumps(sample["messages"]))
        messages[-1]["content"] = json.dumps(json.loads(messages[-1]["content"]), indent=2, ensure_ascii=False)
        return {"messages": messages}

    write_jsonl(tmp_path / "train.jsonl", [pretty(s) for s in example_samples[0]])
    write_jsonl(tmp_path / "eval.jsonl", [pretty(s) for s in example_samples[1]])
    found = {}
    for fmt in ("as_written", "compact"):
        (tmp_path / fmt).mkdir()
        params = _params(
            tmp_path,
            answer_format=fmt,
            prepared_dir=f"{fmt}/prepared",
            report=f"{fmt}/r.json",
            decoding_schema=f"{fmt}/s.json",
        )
        report = data_stage.run(params, tokenizer=tiny_tokenizer).report
        ds = load_from_disk(str(tmp_path / fmt / "prepared"))
        found[fmt] = (report, json.loads((tmp_path / fmt / "s.json").read_text()), ds)

    report, schema, ds = found["compact"]
    answers = [c[0]["content"] for split in ("train", "eval") for c in ds[split]["completion"]]
    assert len(answers) == 90 and all("\n" not in a for a in answers)
    originals = [json.loads(s["messages"][-1]["content"]) for s in example_samples[0] + example_samples[1]]
    assert answers == [json.dumps(answer_schema.canonical(o), ensure_ascii=False) for o in originals]
    assert schema["x-guidance"] == {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
    assert report["answer_format"] == "compact" and report["answers_rewritten"] == {"layout": 90, "fields": 0}
    assert report["answer_chars"]["prepared"] == sum(map(len, answers)) < report["answer_chars"]["as_written"]

    written, written_schema, written_ds = found["as_written"]
    assert written_ds["train"][0]["completion"][0]["content"].startswith("{\n  ")
    assert written_schema["x-guidance"]["whitespace_pattern"] == "\\n {0,16}"
    assert written["answers_rewritten"] == {"layout": 0, "fields": 0}
    assert report["train"]["tokens"]["max"] < written["train"]["tokens"]["max"]


# ---- data.distractors: distractor documents in the training prompts ---------------------------------------------


def _urls(prompt: list[dict]) -> list[str]:
    from kwanzaa_hub.contract.prompt import parse_documents

    return [d.url for d in parse_documents(prompt[-1]["content"])]


def test_distractors_are_added_to_the_training_prompts_only_and_the_report_says_what_they_held(
    tmp_path, example_samples, tiny_tokenizer
):
    from datasets import load_from_disk

    train, held = example_samples
    # an eval document no training sample holds: it must never reach a training prompt
    url = _urls(held[0]["messages"][:-1])[0]
    only = json.loads(json.dumps(held[0]).replace(url, "https://eval-only.example.org/doc"))
    held = [*held, only]
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "eval.jsonl", held)
    result = data_stage.run(_params(tmp_path, distractors=2), tokenizer=tiny_tokenizer)
    ds = load_from_disk(str(tmp_path / "prepared"))

    # the eval split is untouched: its prompts and answers as written
    assert [row["prompt"] + row["completion"] for row in ds["eval"]] == [s["messages"] for s in held]
    # every training prompt holds its own documents and 2 others, all from other training samples
    train_urls = {u for s in train for u in _urls(s["messages"][:-1])}
    eval_urls = {u for s in held for u in _urls(s["messages"][:-1])}
    assert "https://eval-only.example.org/doc" in eval_urls - train_urls
    renumbered = 0
    for row, s in zip(ds["train"], train, strict=True):
        own, now = _urls(s["messages"][:-1]), _urls(row["prompt"])
        assert len(now) == len(own) + 2 and set(own) < set(now) and set(now) <= train_urls, row["id"]
        renumbered += row["completion"][0]["content"] != s["messages"][-1]["content"]
    before = [len(_urls(s["messages"][:-1])) for s in train]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["distractors"] == {
        "per_prompt": 2,
        "added": 2 * 66,
        "documents_per_prompt": {
            "as_written": {"mean": round(sum(before) / 66, 3), "prompts": {"0": 10, "1": 30, "2": 26}},
            "trained": {"mean": round(sum(before) / 66 + 2, 3), "prompts": {"2": 10, "3": 30, "4": 26}},
        },
        "answers_renumbered": renumbered,
        "top_k_raised": 0,
        "pool_documents": len(train_urls),
        "pool_documents_in_eval": len(train_urls & eval_urls),
        "over_max_length": {"count": 0, "samples": []},
    }
    assert renumbered > 0 and report["train"]["tokens"]["max"] > 0 and result.report == report


def test_without_distractors_the_prompts_are_as_written_and_the_report_says_so(
    tmp_path, example_samples, tiny_tokenizer
):
    from datasets import load_from_disk

    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    report = data_stage.run(_params(tmp_path), tokenizer=tiny_tokenizer).report["distractors"]
    ds = load_from_disk(str(tmp_path / "prepared"))
    assert [row["prompt"] + row["completion"] for row in ds["train"]] == [s["messages"] for s in example_samples[0]]
    assert report["per_prompt"] == report["added"] == report["answers_renumbered"] == 0
    assert report["documents_per_prompt"]["as_written"] == report["documents_per_prompt"]["trained"]


def _over_with_distractors(example_samples, tiny_tokenizer, k: int, max_length: int) -> list[str]:
    """Ids of the training samples that fit ``max_length`` as written but not with ``k`` distractors."""
    from kwanzaa_hub.contract.distractors import distractor_split

    train = [s["messages"] for s in example_samples[0]]

    def total(m: list[dict]) -> int:
        return data_stage.chat.measure(tiny_tokenizer, m, "26 Jul 2024").total

    return [
        f"train-{i:05d}"
        for i, (old, (new, _)) in enumerate(zip(train, distractor_split(train, k), strict=True), 1)
        if total(old) <= max_length < total(new)
    ]


def test_samples_that_only_overflow_with_distractors_are_named_and_counted(tmp_path, example_samples, tiny_tokenizer):
    write_jsonl(tmp_path / "train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    over = _over_with_distractors(example_samples, tiny_tokenizer, 3, 900)
    assert over  # the example data holds such samples at this length

    result = data_stage.run(_params(tmp_path, distractors=3, max_length=900, overflow="drop"), tokenizer=tiny_tokenizer)
    assert result.report["distractors"]["over_max_length"] == {"count": len(over), "samples": over}
    assert sum("with data.distractors" in d for d in result.report["dropped_samples"]) == len(over)
    assert result.report["train"]["tokens"]["max"] <= 900

    with pytest.raises(DataValidationError) as exc:
        data_stage.run(_params(tmp_path, distractors=3, max_length=900), tokenizer=tiny_tokenizer)
    assert str(exc.value).count("(it fits without its data.distractors 3)") == len(over)
    assert f"or fewer data.distractors ({len(over)} fit without)" in str(exc.value)


def test_an_answer_that_cannot_be_renumbered_stops_the_stage_with_its_line(tmp_path, example_samples, tiny_tokenizer):
    train = [json.loads(json.dumps(s)) for s in example_samples[0]]
    answer = _answer(train[0])
    answer["retrieval_summary"]["results"][0]["rank"] = 9
    _set_answer(train[0], answer)
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    data_stage.run(_params(tmp_path), tokenizer=tiny_tokenizer)  # without distractors the rank is never read
    with pytest.raises(DataValidationError) as exc:
        data_stage.run(_params(tmp_path, distractors=1), tokenizer=tiny_tokenizer)
    assert f"{tmp_path / 'train.jsonl'}:1: retrieval_summary.results[0].rank 9 names no document" in str(exc.value)
    assert "fix these samples, or set data.distractors: 0" in str(exc.value)


def test_the_cli_prints_one_line_about_the_distractors(tmp_path, example_samples, tiny_model_dir, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1])
    Path("params.yaml").write_text(yaml.safe_dump({"model": {"base": str(tiny_model_dir)}, "data": {"distractors": 1}}))
    result = runner.invoke(app, ["data"], terminal_width=300)
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("distractors"))
    assert line.startswith("distractors (data.distractors 1): 66 added to the training prompts, documents per prompt ")
    assert "answers renumbered, 0 over max_length with them;" in line


@pytest.mark.parametrize("key", ["data.distractors", "eval.distractors"])
def test_a_negative_number_of_distractors_is_refused(key):
    from kwanzaa_hub.errors import ParamsError

    section, name = key.split(".")
    with pytest.raises(ParamsError, match=rf"{key}: Input should be greater than or equal to 0"):
        parse_params({section: {name: -1}})
    assert getattr(getattr(parse_params({}), section), name) == {"data": 0, "eval": 2}[section]


def test_a_changed_data_distractors_reruns_data_and_train():
    """``dvc repro`` reruns a stage whose params changed: data lists the key, and train takes data's output."""
    import yaml

    stages = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]
    assert "data.distractors" in stages["data"]["params"]
    assert "${data.prepared_dir}" in stages["train"]["deps"]
    assert "eval.distractors" in stages["eval"]["params"]
