"""Metric definitions 3: every spec's per-example value on hand-made answers (exact values), the one aggregate, the
``evaluate`` module over the whole spec table, and the eval's generation budget and stop rules."""

import json

import pytest

from kwanzaa_hub.contract.metrics import load, registry, specs, suite

PROMPT = (
    "Retrieved Documents:\n\n"
    "[1] Umoja\nRelevance Score: 0.9\nSource: Lib (1978)\n"
    "Content: Umoja means Unity. It is the principle of December 26.\nURL: https://example.org/u\n\n"
    "[2] Candles\nRelevance Score: 0.8\nSource: Museum (1995)\n"
    "Content: The black candle is lit first on December 26.\nURL: https://example.org/c\n\n"
    "Query: What happens on December 26?"
)
NO_DOCS = "Query: How many people came in 2021?\n\nNo relevant documents were retrieved from the corpus."


def answer(text, completeness="complete", urls=("https://example.org/u",)):
    return json.dumps(
        {
            "version": "kwanzaa.answer.v1",
            "answer": {"text": text, "completeness": completeness},
            "sources": [
                {
                    "citation_label": "x",
                    "canonical_url": u,
                    "source_org": "o",
                    "year": 1978,
                    "content_type": "t",
                    "license": "l",
                    "namespace": "n",
                    "doc_id": "d",
                    "chunk_id": "c",
                }
                for u in urls
            ],
            "retrieval_summary": {"query": "q", "top_k": 5, "namespaces": ["n"], "results": []},
            "unknowns": {"unsupported_claims": [], "missing_context": [], "clarifying_questions": []},
        },
        ensure_ascii=False,
    )


PERFECT = answer(
    "Umoja means Unity [1]. The black candle is lit first [2].", urls=("https://example.org/u", "https://example.org/c")
)
REF_REFUSAL = answer("I cannot answer from these documents.", "insufficient_data", urls=())


TEMPLATE_REF = answer("[This answer would synthesize multiple sources to provide [1] [2].]")


def values(generation, reference=PERFECT, prompt=PROMPT, stop="eot", **kw):
    return specs.values(specs.example(prompt, reference, **kw), specs.response(generation, stop))


def test_a_perfect_answer_scores_one_on_every_quality_metric():
    v = values(PERFECT)
    for name in ("citation_f1", "reference_overlap", "refusal_accuracy", "citation_support", "citation_precision"):
        assert v[name] == 1.0, name
    assert (v["citation_recall"], v["answer_rate"], v["refusal_recall"], v["citation_validity"]) == (
        1.0,
        1.0,
        None,
        1.0,
    )
    assert v["team_schema_valid"] is None and v["refusal_unsupported_rate"] is None  # no team schema; not a refusal
    assert (v["truncated_rate"], v["unsupported_number_rate"], v["placeholder_rate"]) == (0.0, 0.0, 0.0)


def test_citation_correctness_is_per_prompt_against_the_references_citations():
    one = answer("Umoja means Unity [1].")
    wrong = answer("Umoja means Unity [2].")
    v = values(one)  # cites {1} of the reference's {1, 2}
    assert (v["citation_precision"], v["citation_recall"], v["citation_f1"]) == (1.0, 0.5, 0.6667)
    v = values(wrong, reference=one)  # cites {2}, the reference {1}: a valid [n], but the wrong one
    assert (v["citation_precision"], v["citation_recall"], v["citation_f1"], v["citation_validity"]) == (0, 0, 0, 1)
    v = values(answer("Unity [3]."), reference=one)  # [3] names no retrieved document
    assert v["citation_validity"] == 0.0
    uncited = values(answer("Umoja means Unity."))
    assert (uncited["citation_precision"], uncited["citation_recall"], uncited["citation_f1"]) == (None, 0.0, 0.0)


def test_on_a_prompt_whose_reference_refuses_an_answer_that_cites_is_wrong():
    cites = values(PERFECT, reference=REF_REFUSAL)
    assert (cites["citation_f1"], cites["citation_precision"], cites["citation_recall"]) == (0.0, 0.0, None)
    assert (cites["refusal_accuracy"], cites["refusal_recall"], cites["answer_rate"]) == (0.0, 0.0, None)
    silent = values(REF_REFUSAL, reference=REF_REFUSAL)
    assert (silent["citation_f1"], silent["citation_precision"], silent["refusal_accuracy"]) == (1.0, 1.0, 1.0)


def test_support_judges_a_cited_sentence_against_the_documents_it_cites():
    right = answer("Umoja means Unity [1]. Families gather and talk late into the night.")
    wrong = answer("Umoja means Unity [2]. The black candle is lit first [2].")
    late = answer("Umoja means Unity. [1] The black candle is lit first. [2]")
    assert values(right)["citation_support"] == 1.0  # the uncited elaboration is not judged
    assert values(wrong)["citation_support"] == 0.5  # a true sentence citing the wrong document fails
    assert values(late)["citation_support"] == 1.0  # a marker after the full stop belongs to the sentence before it
    assert values(answer("Umoja means Unity."))["citation_support"] is None  # nothing cited: nothing to judge
    assert values(answer("Unity [7]."))["citation_support"] == 0.0  # a document that was not retrieved supports nothing


def test_overlap_with_the_reference_is_squad_token_f1():
    ref = answer("The black candle is lit first [2].")
    assert values(answer("Black candle, is lit FIRST!"), reference=ref)["reference_overlap"] == 1.0  # articles, case
    # prediction {umoja, means, unity} vs reference {black, candle, is, lit, first}: nothing shared
    assert values(answer("Umoja means Unity [1]."), reference=ref)["reference_overlap"] == 0.0
    # prediction: black candle burns (3), reference: black candle is lit first (5); 2 shared -> 2*2/(3+5)
    assert values(answer("A black candle burns."), reference=ref)["reference_overlap"] == 0.5


def test_a_refusal_that_states_numbers_no_document_holds_is_not_a_good_refusal():
    invented = answer("Insufficient data, though about 1.1 million people celebrate it.", "insufficient_data", ())
    dated = answer("Insufficient data beyond December 26 [1].", "insufficient_data", ())
    v = values(invented, reference=REF_REFUSAL)
    assert (v["refusal_recall"], v["refusal_accuracy"], v["refusal_unsupported_rate"]) == (0.0, 0.0, 1.0)
    assert v["unsupported_number_rate"] == 1.0
    v = values(dated, reference=REF_REFUSAL)  # 26 is in document 1
    assert (v["refusal_recall"], v["refusal_accuracy"], v["refusal_unsupported_rate"]) == (1.0, 1.0, 0.0)
    assert values(answer("Asked in 2021 [1]."), prompt=NO_DOCS, reference=REF_REFUSAL)["unsupported_number_rate"] == 0


def test_false_refusals_lower_the_answer_rate_and_refusal_accuracy():
    v = values(REF_REFUSAL)
    assert (v["answer_rate"], v["refusal_accuracy"], v["refusal_recall"]) == (0.0, 0.0, None)


def test_template_references_are_not_covered_by_the_text_metrics():
    v = values(PERFECT, reference=TEMPLATE_REF)
    for name in ("citation_f1", "citation_precision", "citation_recall", "citation_support", "reference_overlap"):
        assert v[name] is None, name
    assert v["refusal_accuracy"] == 1.0 and v["format_compliance"] == 1.0


def test_format_health_and_stop_reasons_per_answer():
    loop = "the same few words again and again " * 40
    assert values(PERFECT[: len(PERFECT) // 2], stop="length")["truncated_rate"] == 1.0
    half = values(PERFECT[: len(PERFECT) // 2], stop="length")
    assert (half["format_compliance"], half["json_valid_rate"], half["refusal_accuracy"]) == (0.0, 0.0, 1.0)
    assert values(json.dumps({"answer": "x"}))["json_valid_rate"] == 1.0
    assert values(json.dumps({"answer": "x"}))["format_compliance"] == 0.0
    assert values(PERFECT, stop="budget")["budget_closed_rate"] == 1.0
    assert (values(loop)["repetition_rate"], values(loop)["answer_repetition_rate"]) == (1.0, 1.0)
    looped = json.loads(PERFECT)
    looped["answer"]["text"] = "the same few words again and again " * 10
    assert values(json.dumps(looped))["answer_repetition_rate"] == 1.0
    repeated_sources = json.loads(PERFECT)
    repeated_sources["sources"] = repeated_sources["sources"] * 12
    v = values(json.dumps(repeated_sources))
    assert (v["repetition_rate"], v["answer_repetition_rate"]) == (1.0, 0.0)  # sources loop, the text does not
    assert values(TEMPLATE_REF)["placeholder_rate"] == 1.0


def test_source_urls_and_the_teams_schema():
    v = values(answer("Umoja [1].", urls=("https://example.org/u", "https://fake.example/x")))
    assert v["source_url_valid"] == 0.5
    team = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "required": ["persona"]}
    assert values(PERFECT, team_validator=specs.team_validator(team))["team_schema_valid"] == 0.0
    assert values(PERFECT, team_validator=specs.team_validator({"type": "object"}))["team_schema_valid"] == 1.0


def test_every_figure_is_the_mean_over_the_prompts_a_metric_covers():
    preds = [PERFECT, answer("Umoja means Unity [1]."), REF_REFUSAL]
    refs = [PERFECT, TEMPLATE_REF, PERFECT]
    s = suite.score(preds, refs, [PROMPT] * 3)
    assert s["citation_f1"] == 0.5  # (1 + 0) / 2: the template reference is not covered
    assert s["refusal_accuracy"] == round(2 / 3, 4) and s["answer_rate"] == round(2 / 3, 4)
    assert "refusal_recall" not in s  # no reference refuses: no figure, rather than a made-up 1.0
    assert specs.aggregate([1.0, None, 0.0, 0.5]) == specs.Aggregate(0.5, 3)
    assert specs.aggregate([None]) == specs.Aggregate(None, 0)


def test_the_evaluate_module_wraps_the_whole_spec_table():
    preds = [PERFECT, REF_REFUSAL]
    r = load().compute(predictions=preds, references=[PERFECT, PERFECT], prompts=[PROMPT, PROMPT])
    assert r == suite.score(preds, [PERFECT, PERFECT], [PROMPT, PROMPT])
    assert r["citation_f1"] == 0.5 and r["answer_rate"] == 0.5


def test_the_registry_derives_from_the_specs():
    assert registry.QUALITY is specs.SPECS and registry.HEADLINE == specs.HEADLINE == (
        "citation_f1",
        "reference_overlap",
        "refusal_accuracy",
    )
    assert registry.spec("adapter.grounded.citation_f1") is specs.BY_NAME["citation_f1"]
    assert registry.change_word("unsupported_number_rate", -0.1) == "better"


def test_a_new_metric_is_one_spec():
    """Adding a metric is one Metric: the per-prompt values and the aggregate pick it up."""
    extra = specs.Metric("cites_anything", True, False, "answers that cite", lambda e, a: float(bool(a.citations)))
    rows = [values_with(extra, p) for p in (PERFECT, REF_REFUSAL)]
    assert specs.means(rows, (extra,))["cites_anything"] == specs.Aggregate(0.5, 2)


def values_with(metric, generation):
    return specs.values(specs.example(PROMPT, PERFECT), specs.response(generation), (metric,))


def test_real_eval_references_score_perfectly_against_themselves(shared_data):
    rows = [json.loads(line) for line in (shared_data / "kwanzaa_eval.jsonl").read_text(encoding="utf-8").splitlines()]
    refs = [r["messages"][-1]["content"] for r in rows]
    s = suite.score(refs, refs, [r["messages"][1]["content"] for r in rows])
    assert (s["format_compliance"], s["citation_f1"], s["reference_overlap"]) == (1.0, 1.0, 1.0)


def test_example_eval_references_score_perfectly_against_themselves(example_samples):
    held = example_samples[1]
    refs = [s["messages"][-1]["content"] for s in held]
    s = suite.score(refs, refs, [s["messages"][1]["content"] for s in held])
    assert (s["format_compliance"], s["citation_f1"], s["reference_overlap"], s["refusal_accuracy"]) == (1, 1, 1, 1)


def test_the_teams_reference_answers_never_count_as_looping(shared_data):
    from kwanzaa_hub.contract.metrics.scoring import is_looping

    for name in ("kwanzaa_train.jsonl", "kwanzaa_eval.jsonl"):
        rows = [json.loads(line) for line in (shared_data / name).read_text(encoding="utf-8").splitlines()]
        assert not [i for i, r in enumerate(rows) if is_looping(r["messages"][-1]["content"])]


def test_json_end_follows_strings_and_escapes():
    from kwanzaa_hub.runtime.generate import JsonEnd

    tracker = JsonEnd()
    chunks = [r'Here: {"a": "}{ \\" ', ', "b": {"c": 1}', "}", " trailing"]  # the escaped backslash ends no string
    assert [tracker.feed(c) for c in chunks] == [False, False, True, True]
    assert not JsonEnd().feed("prose with a } brace")
    assert JsonEnd().feed('an odd " quote, then {"a": "é}"}')  # a quote before the object opens no string
    assert not JsonEnd().feed('{"a": "é}"')
    assert not JsonEnd().feed('{"a": "\\"}')  # an escaped quote ends no string: the brace is text


def test_finish_tells_eot_json_end_and_length_apart(tiny_tokenizer):
    from kwanzaa_hub.runtime.generate import finish

    eot = tiny_tokenizer.convert_tokens_to_ids("<|eot_id|>")
    pad = 0
    text = tiny_tokenizer('{"a": 1}', add_special_tokens=False)["input_ids"]
    prose = tiny_tokenizer("Umoja means unity", add_special_tokens=False)["input_ids"]
    assert finish(prose + [eot, pad], [eot], pad, tiny_tokenizer, 50)[1:] == (len(prose) + 1, "eot")
    assert finish(text + [pad, pad], [eot], pad, tiny_tokenizer, 50)[1:] == (len(text), "json_end")
    assert finish(prose, [eot], pad, tiny_tokenizer, len(prose))[1:] == (len(prose), "length")


@pytest.mark.parametrize(
    "budget, longest, allow, expected",
    [("auto", 1527, False, 1792), ("auto", 10, False, 64), (2048, 1527, False, 2048), (512, 1527, True, 512)],
)
def test_the_generation_budget(budget, longest, allow, expected):
    from kwanzaa_hub.stages.eval import resolve_budget

    assert resolve_budget(budget, [min(5, longest), longest], allow_truncation=allow).max_new_tokens == expected


def test_an_explicit_budget_below_the_longest_reference_is_refused(
    tmp_path, monkeypatch, example_samples, tiny_tokenizer
):
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.stages import data as data_stage
    from kwanzaa_hub.stages import eval as evaluation
    from tests.conftest import write_jsonl

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "train.jsonl", example_samples[0][:4])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1][:3])
    raw = {
        "data": {"train_file": str(tmp_path / "train.jsonl"), "eval_file": str(tmp_path / "eval.jsonl")},
        "eval": {"max_new_tokens": 32},
    }
    data_stage.run(parse_params(raw), tokenizer=tiny_tokenizer)
    longest = max(load_from_disk_eval("data/prepared"))

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the budget was checked")

    monkeypatch.setattr(evaluation, "load_models", no_model)
    with pytest.raises(
        InputError, match=rf"eval.max_new_tokens: 32 is below the longest reference answer .*\({longest} "
    ):
        evaluation.run(parse_params(raw))


def load_from_disk_eval(path: str) -> list[int]:
    from datasets import load_from_disk

    return load_from_disk(path)["eval"]["n_answer_tokens"]


def test_a_row_stops_a_few_tokens_after_its_json_closes_so_trailing_text_is_still_scored(tiny_tokenizer):
    import torch

    from kwanzaa_hub.runtime.generate import GRACE_TOKENS, _json_stopper

    prompt = [1, 2, 3]
    answer = tiny_tokenizer('{"a": 1}', add_special_tokens=False)["input_ids"]
    more = tiny_tokenizer(" and then some prose that a caller would also receive", add_special_tokens=False)
    stop = _json_stopper(tiny_tokenizer, len(prompt), rows=1)
    seen = []
    ids = list(prompt)
    for token in answer + more["input_ids"]:
        ids.append(token)
        seen.append(bool(stop(torch.tensor([ids]), None)[0]))
    closed_at = len(answer) - 1
    assert not any(seen[: closed_at + GRACE_TOKENS]) and seen[closed_at + GRACE_TOKENS]
