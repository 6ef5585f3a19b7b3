"""`kwanzaa-hub ask` and kwanzaa_hub.ask: one answer from retrieved documents, local adapter or pushed version."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from tests.helpers import FAST, params_for

DOCS = [
    {
        "title": "Kwanzaa: origins of the holiday",
        "author": "M. Karenga",
        "publisher": "Kwanzaa Example Library",
        "year": 1967,
        "url": "https://example.org/kwanzaa/origin",
        "content": "Kwanzaa was created in 1966 by Maulana Karenga.",
        "relevance_score": 0.9,
    }
]


def _docs(tmp_path: Path, docs=DOCS, jsonl: bool = False) -> Path:
    path = tmp_path / ("docs.jsonl" if jsonl else "docs.json")
    path.write_text("".join(json.dumps(d) + "\n" for d in docs) if jsonl else json.dumps(docs), encoding="utf-8")
    return path


def test_the_prompt_is_the_training_datas_format(example_samples):
    """A document set rebuilt from an example sample's user message gives back that message, byte for byte."""
    from kwanzaa_hub.contract.prompt import parse_documents, parse_query
    from kwanzaa_hub.serve.ask import messages

    sample = example_samples[1][0]["messages"]
    docs = [
        {"title": d.title, "content": d.content, "url": d.url, "relevance_score": d.relevance}
        | {"publisher": d.publisher, "year": d.year}
        for d in parse_documents(sample[1]["content"])
    ]
    from kwanzaa_hub.contract.documents import from_dicts

    built = messages(parse_query(sample[1]["content"]), from_dicts(docs))
    assert built[1]["content"] == sample[1]["content"]
    assert built[0]["content"].startswith("You are a researcher")


def _broken_adapter(tmp_path: Path) -> Path:
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text('{"base_model_name_or_path": ', encoding="utf-8")
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    return folder


def _bad(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "no content",
        "empty question",
        "adapter and repo",
        "latin-1 file",
        "nested too deep",
        "no tokens",
        "negative tokens",
        "broken adapter config",
        "eleven documents",
    ],
)
def test_each_bad_input_exits_2_with_one_line_and_nothing_on_stdout(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    docs = _docs(tmp_path)
    args = {
        "missing file": ["When?", "--docs", str(tmp_path / "nope.json")],
        "no content": ["When?", "--docs", str(_docs(tmp_path, [{"title": "x", "content": " "}], jsonl=True))],
        "empty question": ["  ", "--docs", str(docs)],
        "adapter and repo": ["When?", "--docs", str(docs), "--adapter", "models/adapter", "--repo", "a/b"],
        "latin-1 file": ["When?", "--docs", _bad(tmp_path, "l1.json", '[{"content": "Caf\u00e9"}]'.encode("latin-1"))],
        "nested too deep": ["When?", "--docs", _bad(tmp_path, "deep.json", b"[" * 100_000 + b"]" * 100_000)],
        "no tokens": ["When?", "--docs", str(docs), "--max-new-tokens", "0"],
        "negative tokens": ["When?", "--docs", str(docs), "--max-new-tokens", "-5"],
        "broken adapter config": ["When?", "--docs", str(docs), "--adapter", str(_broken_adapter(tmp_path))],
        "eleven documents": ["When?", "--docs", _bad(tmp_path, "many.json", json.dumps(DOCS * 11).encode())],
    }[case]
    result = CliRunner().invoke(app, ["ask", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    expected = {
        "missing file": "nope.json: file not found",
        "no content": "docs.jsonl:1: the document has no content",
        "empty question": "the question is empty",
        "adapter and repo": "--adapter and --repo both given",
        "latin-1 file": "l1.json: not UTF-8 text (byte 17 is 0xe9)",
        "nested too deep": "deep.json: the JSON is nested too deeply",
        "no tokens": "--max-new-tokens 0: give a positive number",
        "negative tokens": "--max-new-tokens -5: give a positive number",
        "broken adapter config": "adapter_config.json is not a PEFT adapter config",
        "eleven documents": "many.json: 11 documents; a request takes at most 10 (the most for which",
    }[case]
    assert expected in lines[0]


@pytest.mark.parametrize(
    "choice, adapter, schema_file, train_report",
    [
        ({}, "models/adapter", "reports/answer.schema.json", "reports/train.json"),
        ({"adapter": "models/adapter"}, "models/adapter", "reports/answer.schema.json", "reports/train.json"),
        ({"adapter": "elsewhere/adapter"}, "elsewhere/adapter", "reports/answer.schema.json", None),
        ({"repo_id": "me/kw", "version": "v2"}, None, None, None),
        (
            {"adapter": "./models/../models/adapter"},
            "models/../models/adapter",
            "reports/answer.schema.json",
            "reports/train.json",
        ),
    ],
    ids=["default", "the workspace's adapter", "another folder", "a pushed version", "the same folder spelled apart"],
)
def test_which_schema_and_train_report_apply_to_the_adapter_answered_with(choice, adapter, schema_file, train_report):
    """Issue 39 (Also): the workspace's train report speaks for the workspace's adapter only; a pushed version answers
    with its own schema and report (the version's), never the workspace's. Decided below the CLI, in serve/ask.py."""
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.serve.ask import load_arguments

    params = parse_params({"model": {"base": "models/base"}})
    args = load_arguments(params, **choice)
    folder = args["adapter"] and Path(args["adapter"])
    assert (folder, args["schema_file"], args["train_report"]) == (adapter and Path(adapter), schema_file, train_report)
    assert args["base"] == "models/base" and args["repo_id"] == choice.get("repo_id")
    assert load_arguments(params, base="other/base", **choice)["base"] == "other/base"


def _valid(text: str, schema: dict) -> dict:
    data = json.loads(text)
    jsonschema.validate(data, schema)
    return data


@pytest.mark.slow
def test_ask_answers_one_schema_valid_object_from_a_local_adapter(outputs):
    """CLI: stdout holds exactly one JSON object, valid against the decoding schema the data stage wrote."""
    schema = json.loads((outputs / "reports/answer.schema.json").read_text())
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    docs = _docs(outputs)
    result = CliRunner().invoke(
        app, ["ask", "When was Kwanzaa created?", "--docs", str(docs), "--max-new-tokens", "600"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "Loading weights" not in result.stderr  # stderr: real warnings only
    data = _valid(result.stdout, schema)
    assert data["version"] == "kwanzaa.answer.v1"


@pytest.mark.slow
def test_a_budget_too_small_for_the_answer_still_gives_one_valid_object_and_says_so(outputs):
    """--max-new-tokens 150 is far below what the schema allows: stdout still holds one whole, schema-valid
    object (closed in time), and stderr warns that its text was cut short."""
    schema = json.loads((outputs / "reports/answer.schema.json").read_text())
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    result = CliRunner().invoke(
        app, ["ask", "When was Kwanzaa created?", "--docs", str(_docs(outputs)), "--max-new-tokens", "150"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    _valid(result.stdout, schema)
    assert "closed early to fit --max-new-tokens 150" in " ".join(result.stderr.split())


@pytest.mark.slow
def test_a_budget_below_the_smallest_answer_is_exit_2_naming_the_minimum_and_the_minimum_answers(outputs):
    """Issue 39.10: the tiny model's smallest answer under one document's request schema is 85 tokens: 84 is bad
    input (exit 2, one line that names 85, nothing on stdout, before generating), 85 answers one valid object; with
    --free nothing is held to the schema, so no minimum applies."""
    schema = json.loads((outputs / "reports/answer.schema.json").read_text())
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    docs = str(_docs(outputs))
    below = CliRunner().invoke(app, ["ask", "When was Kwanzaa created?", "--docs", docs, "--max-new-tokens", "84"])
    assert below.exit_code == 2, below.output
    assert below.stdout == ""
    lines = [line for line in below.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [
        "error: --max-new-tokens 84 is below the smallest answer this request's schema allows (85 tokens): "
        "pass at least 85"
    ], below.stderr
    least = CliRunner().invoke(app, ["ask", "When was Kwanzaa created?", "--docs", docs, "--max-new-tokens", "85"])
    assert least.exit_code == 0, least.output
    assert _valid(least.stdout, schema)["version"] == "kwanzaa.answer.v1"
    free = CliRunner().invoke(app, ["ask", "When?", "--docs", docs, "--max-new-tokens", "20", "--free"])
    assert "smallest answer" not in free.stderr


@pytest.mark.slow
def test_ask_answers_from_a_version_on_the_hub_with_its_own_schema(outputs, hub, repo_id):
    """The Python function on a pushed version: the schema comes from the version (verified by its manifest)."""
    import kwanzaa_hub
    from kwanzaa_hub.stages import push as push_stage

    push_stage.run(params_for(repo_id), retry=FAST)
    schema = json.loads((outputs / "reports/answer.schema.json").read_text())
    (outputs / "reports/answer.schema.json").unlink()  # the version's copy is the one used
    text = kwanzaa_hub.ask(
        "When was Kwanzaa created?", DOCS, repo_id=repo_id, version="v1", base="models/base", max_new_tokens=600
    )
    assert _valid(text, schema)["version"] == "kwanzaa.answer.v1"


def test_the_card_shows_how_to_serve_the_version_with_its_schema(outputs):
    from kwanzaa_hub.hub import card as card_mod

    params = params_for("tester/kwanzaa-card")
    text = str(card_mod.build_card(card_mod.gather(params)))
    assert '"type": "json_schema"' in text and "answer.schema.json" in text  # vLLM response_format
    assert '"json_schema": schema' in text  # llama.cpp server
    assert "kwanzaa-hub ask" in text and 'kwanzaa_hub.ask(question, documents, repo_id="tester/kwanzaa-card"' in text


@pytest.mark.slow
@pytest.mark.parametrize("documents", [DOCS, []], ids=["one document", "nothing retrieved"])
def test_ask_answers_under_the_request_schema_that_the_schema_command_prints(outputs, documents):
    """`kwanzaa-hub schema --docs F` prints the schema of that request, and it accepts what `ask` prints for the same
    documents: sources only from them (none, and no citation, when nothing was retrieved; exit 0 all the same)."""
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    docs = _docs(outputs, documents)
    printed = CliRunner().invoke(app, ["schema", "--docs", str(docs)])
    assert printed.exit_code == 0, printed.output
    schema = json.loads(printed.stdout)
    result = CliRunner().invoke(
        app, ["ask", "When was Kwanzaa created?", "--docs", str(docs), "--max-new-tokens", "600"]
    )
    assert result.exit_code == 0, result.output
    data = _valid(result.stdout, schema)
    assert {s["canonical_url"] for s in data["sources"]} <= {d["url"] for d in documents}
    if not documents:
        from kwanzaa_hub.contract.answer import extract_citations

        assert "holds no documents: answering as if nothing was retrieved" in " ".join(result.stderr.split())
        assert data["sources"] == [] and data["retrieval_summary"]["results"] == []
        assert extract_citations(data["answer"]["text"]) == []
    static = json.loads((outputs / "reports/answer.schema.json").read_text())
    assert schema != static and _valid(result.stdout, static)  # narrower than the version's schema, within it


def test_a_byte_order_mark_is_accepted_and_an_empty_file_is_nothing_retrieved(tmp_path):
    from kwanzaa_hub.contract.documents import load_documents

    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(DOCS).encode())
    assert [d.url for d in load_documents(path)] == [DOCS[0]["url"]]
    path.write_bytes(b"  \n")
    assert load_documents(path) == []


@pytest.mark.slow
def test_a_prompt_longer_than_the_base_models_context_exits_2_with_the_counts(outputs):
    from transformers import AutoConfig

    context = AutoConfig.from_pretrained(outputs / "models/base").max_position_embeddings
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    long = [{**DOCS[0], "content": "Umoja means unity. " * (context // 2)}]
    result = CliRunner().invoke(app, ["ask", "When?", "--docs", str(_docs(outputs, long)), "--max-new-tokens", "64"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line = " ".join(result.stderr.split())
    assert f"over the base model's context of {context:,}" in line and "--max-new-tokens 64" in line


@pytest.mark.slow
def test_ask_on_a_version_refuses_another_base_than_it_was_trained_on(outputs, hub, repo_id):
    """The version's own train report records its base (sha256 of the local folder): `ask --repo --base OTHER` is exit
    2 before any weights load; without a recorded base it answers with a warning that nothing was checked."""
    import shutil

    from kwanzaa_hub.runtime.models import base_identity
    from kwanzaa_hub.stages import push as push_stage

    report = json.loads((outputs / "reports/train.json").read_text())
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    unrecorded = CliRunner().invoke(
        app, ["ask", "When?", "--docs", str(_docs(outputs)), "--max-new-tokens", "200", "--base", "models/base"]
    )
    assert unrecorded.exit_code == 0, unrecorded.output
    assert "no train report records which base" in " ".join(unrecorded.stderr.split())
    (outputs / "reports/train.json").write_text(
        json.dumps({**report, "base_model": {"name": "models/base", **base_identity("models/base")}})
    )
    push_stage.run(params_for(repo_id), retry=FAST)
    other = outputs / "models/other"
    shutil.copytree(outputs / "models/base", other)
    (other / "config.json").write_text((other / "config.json").read_text().replace('"rms_norm_eps"', '"rms_norm_eps" '))
    args = ["ask", "When?", "--docs", str(_docs(outputs)), "--repo", repo_id, "--version", "v1", "--base", str(other)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert "is not the base the adapter was trained on" in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"version": "kwanzaa.answer.v1", "answer": {"text": "Umoja', "not whole JSON"),
        ('["kwanzaa"]', "a JSON list"),
        ('{"version": "kwanzaa.answer.v1"}', "invalid at $: 'answer' is a required property"),
    ],
    ids=["cut", "not an object", "not under the schema"],
)
def test_ask_never_prints_an_answer_that_is_not_whole_json_under_the_schema(
    text, says, tmp_path, monkeypatch, tiny_tokenizer
):
    """Issue 38.3: whatever the decoder hands back (cut by a special token, or anything else the grammar should
    have prevented), `ask` prints nothing, says why on stderr and exits 1; never cut JSON with exit 0."""
    from types import SimpleNamespace

    from kwanzaa_hub.contract import decoding_schema
    from kwanzaa_hub.runtime import generate as generate_mod
    from kwanzaa_hub.runtime.generate import Generations
    from kwanzaa_hub.serve import ask as ask_mod

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=None))
    loaded = ask_mod.Loaded(model, tiny_tokenizer, decoding_schema.build({}))
    monkeypatch.setattr(ask_mod, "load_model", lambda **_: loaded)
    monkeypatch.setattr(generate_mod, "generate", lambda *a, **k: Generations([text], 9, 0.1, ["eot"]))
    docs = _docs(tmp_path, [{**DOCS[0], "title": "Umoja <|eot_id|>"}])
    result = CliRunner().invoke(app, ["ask", "When?", "--docs", str(docs)])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    line = " ".join(result.stderr.split())
    assert line.startswith("error: the decoder did not finish a valid answer under the schema") and says in line


@pytest.mark.parametrize("count", [11, 101, 900])
def test_the_schema_command_refuses_more_documents_than_a_request_takes_in_one_line(count, tmp_path, monkeypatch):
    """Issue 38.6: 101 documents forced top_k past the contract's 100, and 900 made a grammar too large with exit 0."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    result = CliRunner().invoke(app, ["schema", "--docs", str(_docs(tmp_path, DOCS * count))])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"docs.json: {count} documents; a request takes at most 10" in lines[0]


@pytest.mark.parametrize("command", ["ask", "schema"])
@pytest.mark.parametrize(
    "raw, says",
    [
        (b'[{"title": "Umoja \\ud800", "content": "c"}]', "document 1: a lone UTF-16 surrogate (\\ud8xx escape)"),
        (b'[{"content": "c", "relevance_score": 1' + b"0" * 400 + b"}]", "relevance_score must be a finite number"),
        (b'[{"content": "c", "relevance_score": 1e400}]', "relevance_score must be a finite number, found inf"),
        (b'[{"content": "c", "year": 1' + b"0" * 5000 + b"}]", "not valid JSON (a number too long to read)"),
    ],
    ids=["lone surrogate", "relevance 10**400", "relevance 1e400", "a 5001-digit year"],
)
def test_documents_the_data_stage_refuses_are_one_line_not_a_traceback(raw, says, command, tmp_path, monkeypatch):
    """Issue 38.7: a lone surrogate or a relevance of 10**400 was a traceback in `schema` and `ask`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    args = ["When?"] if command == "ask" else []
    result = CliRunner().invoke(app, [command, *args, "--docs", _bad(tmp_path, "docs.json", raw)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


def test_an_integral_float_year_is_the_year_it_reads_as():
    """Issue 38.7: ``"year": 1998.0`` pinned ``source_org`` to ``"Org (1998.0)"``; it is the year 1998 of Org."""
    from kwanzaa_hub.contract import decoding_schema
    from kwanzaa_hub.contract.documents import from_dicts
    from kwanzaa_hub.contract.request_schema import schema_for
    from kwanzaa_hub.serve.ask import messages

    doc = {**DOCS[0], "publisher": "Org", "year": 1998.0}
    item = schema_for([doc], decoding_schema.build({}))["$defs"]["source_1"]["properties"]
    assert (item["source_org"], item["year"]) == ({"const": "Org"}, {"const": 1998})
    assert "\nSource: Org (1998)\n" in messages("q", from_dicts([doc]))[1]["content"]


def test_a_question_that_is_not_text_is_one_line():
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.serve.ask import messages

    with pytest.raises(InputError, match=r"^the question: a lone UTF-16 surrogate"):
        messages("When\udcff?", [])  # an argument of invalid UTF-8 reaches Python so (surrogateescape)
