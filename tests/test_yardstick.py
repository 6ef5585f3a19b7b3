"""The yardstick: every headline metric ranks the team's reference answers strictly above every floor (trivial
answerers built from the prompt alone), on the team's eval data and on the example data, on the plain split and on
one with distractor documents; and the floors are valid contract answers."""

import json

import jsonschema
import pytest

from kwanzaa_hub.contract import decoding_schema, floors, request_schema
from kwanzaa_hub.contract.answer import parse_answer
from kwanzaa_hub.contract.distractors import distractor_split
from kwanzaa_hub.contract.metrics import rows as evalrows
from kwanzaa_hub.contract.metrics import specs


def _load(path):
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(params=["team", "example"])
def eval_split(request, shared_data, tmp_path):
    """(system messages, user messages, reference assistant messages) of the team's eval split or the example's."""
    if request.param == "team":
        path = shared_data / "kwanzaa_eval.jsonl"
    else:
        from kwanzaa_hub.devtools import example_data

        path = tmp_path / "eval.jsonl"
        path.write_text("\n".join(json.dumps(s) for s in example_data.build()[1]), encoding="utf-8")
    messages = _load(path)
    return (
        [m[0]["content"] for m in messages],
        [m[1]["content"] for m in messages],
        [m[-1]["content"] for m in messages],
    )


def _rows(systems, users, references, split="plain", mappings=None):
    n = len(users)
    return evalrows.split_rows(
        split=split,
        ids=[f"eval-{i:05d}" for i in range(n)],
        categories=["any"] * n,
        systems=systems,
        users=users,
        references=references,
        mappings=mappings,
    )


def with_distractors(systems, users, references, k=2):
    """The eval's distractor split of these prompts (contract/distractors.py, as the eval stage builds it): (users,
    references, mappings)."""
    samples = [
        [{"role": "system", "content": s}, {"role": "user", "content": u}, {"role": "assistant", "content": r}]
        for s, u, r in zip(systems, users, references, strict=True)
    ]
    made = distractor_split(samples, k)
    return [m[1]["content"] for m, _ in made], [m[2]["content"] for m, _ in made], [mp.record() for _, mp in made]


def test_every_headline_metric_ranks_the_references_above_every_floor(eval_split):
    systems, users, references = eval_split
    rows = _rows(systems, users, references)
    assert evalrows.yardstick_failures(rows) == []
    assert {r["split"] for r in rows} == {"plain"} and set(rows[0]["floors"]) == set(floors.FLOORS)


def test_the_yardstick_holds_with_distractor_documents(eval_split):
    systems, users, references = eval_split
    d_users, d_refs, mappings = with_distractors(systems, users, references)
    rows = _rows(systems, d_users, d_refs, split="distractors", mappings=mappings)
    assert evalrows.yardstick_failures(rows) == []
    agg = evalrows.aggregates(rows)
    plain = evalrows.aggregates(_rows(systems, users, references))
    # citing every document, or always [1], loses more against the reference once documents that are not its own
    # are in the prompt
    assert agg["cite_all"]["citation_f1"].mean < plain["cite_all"]["citation_f1"].mean
    assert agg["reference"]["citation_f1"].mean == 1.0


def test_a_floor_given_the_references_score_path_fails_the_yardstick(eval_split, monkeypatch):
    """The guard itself: a floor that answers with the reference ties it on every headline metric, and is named."""
    systems, users, references = eval_split
    real = floors.floor_answers
    monkeypatch.setattr(floors, "floor_answers", lambda u, r: {**real(u, r), "cite_first": list(r)})
    failures = evalrows.yardstick_failures(_rows(systems, users, references))
    assert [f.split(":")[0] for f in failures if "cite_first" in f] == list(specs.HEADLINE)


def test_the_floors_are_valid_contract_answers_and_pass_their_request_schema(eval_split):
    """cite_all, cite_first and refuse_all pass the request schema of their prompt; no_cite breaks only
    cite-or-refuse (it cites nothing and does not refuse); every floor is a valid kwanzaa.answer.v1 answer."""
    _, users, references = eval_split
    static = decoding_schema.from_answers(references, margin=1.5)
    answers = floors.floor_answers(users, references)
    assert set(answers) == set(floors.FLOORS)
    for name, texts in answers.items():
        for user, text in zip(users, texts, strict=True):
            assert parse_answer(text).compliant, (name, parse_answer(text).errors)
            if name in ("cite_all", "cite_first", "refuse_all"):
                jsonschema.validate(
                    decoding_schema.canonical(json.loads(text)), request_schema.for_prompt(static, user)
                )


def test_each_floor_answers_as_its_name_says():
    user = (
        "Retrieved Documents:\n\n[1] Umoja\nSource: Lib (1978)\nContent: [Umoja means Unity. It is day one.]\n"
        "URL: https://example.org/u\n\n[2] Candles\nContent: The black candle is lit first.\nURL: https://example.org/c"
        "\n\nQuery: What is Umoja?"
    )
    text = {
        name: specs.response(floors.answer(name, user)) for name in ("cite_all", "cite_first", "refuse_all", "no_cite")
    }
    assert text["cite_all"].text == "Umoja means Unity. [1] The black candle is lit first. [2]"
    assert text["cite_first"].text == "Umoja means Unity. [1]"
    assert text["no_cite"].text == "Umoja means Unity. The black candle is lit first."
    assert text["refuse_all"].refuses and not text["refuse_all"].citations
    assert [s["canonical_url"] for s in json.loads(floors.answer("cite_all", user))["sources"]] == [
        "https://example.org/u",
        "https://example.org/c",
    ]
    assert floors.floor_answers([user, user, user], ["a", "b", "c"])["other_reference"] == ["b", "c", "a"]
    assert "other_reference" not in floors.floor_answers([user], ["a"])  # no derangement of one prompt


def test_the_eval_stage_writes_rows_floors_and_figures_from_one_aggregate(
    tmp_path, monkeypatch, example_samples, tiny_tokenizer, capsys
):
    """The eval stage on the example data with stand-in generations (the adapter answers with the references under
    the request schema and copies document 1 free; the base refuses): one row per prompt in the specs' format, every
    figure the aggregate of those rows, the best floor beside each headline metric, and the words where the served
    run does not beat it."""
    from kwanzaa_hub.cli.pipeline import eval_cmd
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.contract.metrics import registry, suite
    from kwanzaa_hub.runtime.generate import Generations
    from kwanzaa_hub.stages import data as data_stage
    from kwanzaa_hub.stages import eval as evaluation
    from tests.conftest import write_jsonl

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "train.jsonl", example_samples[0][:4])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1])
    raw = {"data": {"train_file": str(tmp_path / "train.jsonl"), "eval_file": str(tmp_path / "eval.jsonl")}}
    (tmp_path / "params.yaml").write_text(json.dumps(raw), encoding="utf-8")
    data_stage.run(parse_params(raw), tokenizer=tiny_tokenizer)
    tiny_tokenizer.save_pretrained(tmp_path / "models/adapter")  # as train leaves it: the request schemas read it

    def fake(params, prompts, budget, requests, split="plain"):
        users = [p[-1]["content"] for p in prompts]
        n = len(prompts)
        from datasets import load_from_disk

        refs = [c[0]["content"] for c in load_from_disk("data/prepared")["eval"]["completion"]]
        texts = {
            "base": floors.floor_answers(users, refs)["refuse_all"],
            "adapter": floors.floor_answers(users, refs)["cite_first"],
            "adapter_constrained": refs,
        }
        secs = 1.0 if split == "plain" else 2.5  # the distractor split's cost is its own, in the report
        return {k: Generations(v, 10 * n, secs, ["eot"] * n, [10] * n, n) for k, v in texts.items()}

    monkeypatch.setattr(evaluation, "generate_all", fake)
    eval_cmd(tmp_path / "params.yaml")
    out = capsys.readouterr()

    every = [json.loads(line) for line in (tmp_path / "eval/predictions.jsonl").read_text().splitlines()]
    rows = [r for r in every if r["split"] == "plain"]
    shuffled = [r for r in every if r["split"] == "distractors"]  # eval.distractors: 2 by default
    assert len(rows) == len(shuffled) == len(example_samples[1]) and len(every) == 2 * len(rows)
    assert all(r["mapping"] is None for r in rows) and all(len(r["mapping"]["distractors"]) == 2 for r in shuffled)
    assert {r["key"] for r in rows}.isdisjoint(r["key"] for r in shuffled)  # other prompts, other keys
    assert set(rows[0]) == {"key", "id", "category", "split", "mapping", "reference", "runs", "floors", "prompt_sha256"}
    assert set(rows[0]["runs"]) == {"base", "adapter", "adapter_constrained"} and rows[0]["split"] == "plain"
    assert set(rows[0]["floors"]) == set(floors.FLOORS)
    assert set(rows[0]["runs"]["adapter"]) == {"generation", "stop_reason", "new_tokens", "values"}
    assert set(rows[0]["reference"]["values"]) == set(specs.BY_NAME)

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    headline = {f"{r}.{m}" for r in ("adapter", "adapter_constrained", "base", "floor") for m in specs.HEADLINE}
    assert set(metrics) == headline and list(metrics) == list(registry.ordered(metrics))
    agg = evalrows.aggregates(rows)
    for m in specs.HEADLINE:  # every figure is the aggregate of the rows
        assert metrics[f"adapter.{m}"] == agg["adapter"][m].mean
        assert metrics[f"floor.{m}"] == max(agg[f][m].mean for f in floors.FLOORS)
        assert metrics[f"adapter_constrained.{m}"] == 1.0  # the references themselves
    # the DVC metrics: the served run's headline, the base's under the same decoding (not run here), the best floor
    served = json.loads((tmp_path / evaluation.HEADLINE_FILES["served"]).read_text())
    assert served == {m: metrics[f"adapter_constrained.{m}"] for m in specs.HEADLINE}
    floor = json.loads((tmp_path / evaluation.HEADLINE_FILES["floor"]).read_text())
    assert floor == {m: metrics[f"floor.{m}"] for m in specs.HEADLINE}
    assert not (tmp_path / evaluation.HEADLINE_FILES["base"]).exists()
    report = json.loads((tmp_path / "reports/eval.json").read_text())
    assert report["metric_definitions"] == suite.DEFINITIONS == 3 and report["served_run"] == "adapter_constrained"
    assert report["floors"]["best"]["citation_f1"]["floor"] == "cite_all"
    assert report["splits"]["plain"]["yardstick_failures"] == []
    n = len(rows)
    for split, secs in (("plain", 1.0), ("distractors", 2.5)):
        cost = report["splits"][split]["generation"]
        assert set(cost) == {"base", "adapter", "adapter_constrained"}
        assert cost["adapter"] == {
            "stop_reasons": {"eot": n, "json_end": 0, "length": 0, "budget": 0},
            "new_tokens": 10 * n,
            "seconds": secs,
            "tokens_per_s": round(10 * n / secs, 1),
            "ms_per_token": round(1000 * secs / (10 * n), 2),
            "steps": n,
            "ms_per_step": round(1000 * secs / n, 2),
        }
    assert report["n"]["adapter.refusal_accuracy"] == len(rows)
    verdicts = report["floors"]["verdicts"]  # "beats" only where the paired test of the two figures says better
    assert [v.split(" the best floor")[0] for v in verdicts] == [
        "citation_f1: adapter_constrained 1.000 beats",
        "reference_overlap: adapter_constrained 1.000 beats",
        "refusal_accuracy: adapter_constrained 1.000 does NOT beat",  # 3 prompts apart of 24: p = 0.25
    ]
    assert verdicts[2].endswith("beyond noise (p = 0.25, n = 24): no better than an answer built from the prompt alone")
    assert "metric definitions 3" in out.out + out.err
    assert "best floor" in out.out + out.err and verdicts[2] in " ".join((out.out + out.err).split())

    eval_cmd(tmp_path / "params.yaml")  # a rerun: every output it wrote is recognised as its own
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    foreign = tmp_path / evaluation.HEADLINE_FILES["base"]
    foreign.write_text('{"mine": 1}')  # a JSON file this stage did not write, where it writes the base's headline
    with pytest.raises(Exception):  # noqa: B017 - typer.Exit(2) after one line
        eval_cmd(tmp_path / "params.yaml")
    assert foreign.read_text() == '{"mine": 1}' and "eval's headline (base)" in capsys.readouterr().err
    foreign.unlink()

    # the adapter's free run copies document 1: it does not beat the best floor, and the words say so
    assert not evalrows.beats("citation_f1", metrics["adapter.citation_f1"], metrics["floor.citation_f1"])
    words = evalrows.floor_verdicts(rows, ["base", "adapter"])
    assert words[0].startswith("citation_f1: adapter ") and "does NOT beat the best floor (cite_all" in words[0]
