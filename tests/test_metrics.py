"""The four metric modules on hand-made predictions, loaded through evaluate from their local folders."""

import json

import pytest

from kwanzaa_hub.contract.metrics import load

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


def test_format_compliance_exact():
    preds = [PERFECT, PERFECT[: len(PERFECT) // 2], json.dumps({"answer": "x"}), "plain text"]
    r = load("format_compliance").compute(predictions=preds, references=[PERFECT] * 4)
    assert r == {"format_compliance": 1 / 4, "json_valid_rate": 2 / 4}


def test_citation_accuracy_exact():
    preds = [
        PERFECT,  # cites {1,2}: both valid, both expected
        answer("Umoja means Unity [3].", urls=("https://fake.example/x",)),  # [3] missing doc, hallucinated URL
        "not json at all [1]",  # raw text: cites {1}, no sources
    ]
    refs = [PERFECT, PERFECT, answer("Unity [1].")]
    r = load("citation_accuracy").compute(predictions=preds, references=refs, prompts=[PROMPT] * 3)
    # cited: 2 + 1 + 1 = 4, valid: 2 + 0 + 1 = 3 -> precision 3/4
    # expected: 2 + 2 + 1 = 5, recalled: 2 + 0 + 1 = 3 -> recall 3/5
    assert r["citation_precision"] == pytest.approx(3 / 4)
    assert r["citation_recall"] == pytest.approx(3 / 5)
    assert r["citation_f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    # sources: 2 valid (perfect) + 1 hallucinated -> 2/3
    assert r["source_url_valid"] == pytest.approx(2 / 3)


def test_citation_accuracy_nothing_cited():
    r = load("citation_accuracy").compute(predictions=[REF_REFUSAL], references=[REF_REFUSAL], prompts=[NO_DOCS])
    assert r == {"citation_precision": 0.0, "citation_recall": 1.0, "citation_f1": 0.0, "source_url_valid": 0.0}


def test_grounding_exact():
    preds = [
        PERFECT,  # 2 sentences, both supported
        answer("Umoja means Unity [1]. Zebras invented jazz in 1850."),  # 1 of 2 supported; 1850 not in docs
        REF_REFUSAL,  # refusals are not scored for grounding
    ]
    r = load("grounding").compute(predictions=preds, references=preds, prompts=[PROMPT] * 3, threshold=0.5)
    assert r["grounded_sentence_rate"] == pytest.approx(3 / 4)
    assert r["unsupported_number_rate"] == pytest.approx(1 / 2)


def test_grounding_numbers_in_documents_are_fine_and_unicode():
    pred = answer("Umoja — «Unity» — is the principle of December 26 [1] 🕯️.")
    r = load("grounding").compute(predictions=[pred], references=[pred], prompts=[PROMPT])
    assert r == {"grounded_sentence_rate": 1.0, "unsupported_number_rate": 0.0}


def test_refusal_exact():
    preds = [
        REF_REFUSAL,  # ref refuses, refused       -> TP
        PERFECT,  # ref refuses, answered      -> FN
        REF_REFUSAL,  # ref answers, refused       -> FP (false refusal)
        PERFECT,  # ref answers, answered      -> TN
        "{truncated",  # ref answers, not JSON      -> TN (not a refusal)
    ]
    refs = [REF_REFUSAL, REF_REFUSAL, PERFECT, PERFECT, PERFECT]
    r = load("refusal").compute(predictions=preds, references=refs)
    assert r["refusal_recall"] == pytest.approx(1 / 2)
    assert r["false_refusal_rate"] == pytest.approx(1 / 3)
    assert r["refusal_accuracy"] == pytest.approx(3 / 5)
    # balanced: mean of the refusal recall (1/2) and the answerable accuracy (2/3); F1 over refusals: P 1/2, R 1/2
    assert r["refusal_balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert r["refusal_f1"] == pytest.approx(1 / 2)


@pytest.mark.parametrize(
    "preds, balanced, f1, accuracy",
    [
        ([PERFECT] * 5, 0.5, 0.0, 3 / 5),  # never refuses: the majority class no longer looks good
        ([REF_REFUSAL] * 5, 0.5, 2 * (2 / 5) * 1 / (2 / 5 + 1), 2 / 5),  # always refuses
        ([REF_REFUSAL, REF_REFUSAL, PERFECT, PERFECT, PERFECT], 1.0, 1.0, 1.0),  # perfect
    ],
)
def test_the_headline_refusal_metric_cannot_be_won_by_never_refusing(preds, balanced, f1, accuracy):
    refs = [REF_REFUSAL, REF_REFUSAL, PERFECT, PERFECT, PERFECT]
    r = load("refusal").compute(predictions=preds, references=refs)
    assert (r["refusal_balanced_accuracy"], r["refusal_f1"], r["refusal_accuracy"]) == pytest.approx(
        (balanced, f1, accuracy)
    )


def test_only_answerable_prompts_score_the_answerable_class_alone():
    r = load("refusal").compute(predictions=[PERFECT, REF_REFUSAL], references=[PERFECT, PERFECT])
    assert (r["refusal_balanced_accuracy"], r["refusal_recall"], r["refusal_f1"]) == (0.5, 1.0, 0.0)


def test_truncated_and_repetition_rates_exact():
    from kwanzaa_hub.contract.metrics.scoring import generation_health, is_looping

    loop = "the same few words again and again " * 40
    preds = [PERFECT, loop, "{half of an answer", PERFECT]
    r = generation_health(preds, ["eot", "length", "length", "budget"])
    assert r == {
        "truncated_rate": 2 / 4,
        "budget_closed_rate": 1 / 4,
        "repetition_rate": 1 / 4,
        "answer_repetition_rate": 1 / 4,
        "placeholder_rate": 0,
    }
    assert is_looping(loop) and not is_looping(PERFECT)


def test_a_loop_inside_answer_text_counts_under_constraints_and_placeholders_are_counted():
    """A schema-valid answer whose text loops is a loop: constraints contain it, they do not cure it. Sources that
    repeat (not the text) are not an answer loop."""
    from kwanzaa_hub.contract.metrics.scoring import generation_health

    looped = json.loads(PERFECT)
    looped["answer"]["text"] = "the same few words again and again " * 10
    placeholder = json.loads(PERFECT)
    placeholder["answer"]["text"] = "[Generated answer for: What is Kwanzaa?] This answer would cite sources: [1]"
    repeated_sources = json.loads(PERFECT)
    repeated_sources["sources"] = repeated_sources["sources"] * 12
    preds = [json.dumps(looped), json.dumps(placeholder), json.dumps(repeated_sources), PERFECT]
    r = generation_health(preds, ["eot"] * 4)
    assert r["answer_repetition_rate"] == 1 / 4
    assert r["placeholder_rate"] == 1 / 4
    assert r["repetition_rate"] == 2 / 4  # the whole-text measure also counts the repeated sources


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


def test_per_category_breakdown_keys():
    from kwanzaa_hub.contract.metrics.suite import score_by_category

    flat = score_by_category(
        [PERFECT, REF_REFUSAL], [PERFECT, REF_REFUSAL], [PROMPT, NO_DOCS], ["grounded", "refusal"], threshold=0.5
    )
    assert flat["format_compliance"] == 1.0
    assert flat["refusal.refusal_accuracy"] == 1.0 and flat["grounded.citation_precision"] == 1.0
    assert flat["refusal.citation_precision"] == 0.0


def test_real_eval_references_score_perfectly_against_themselves(shared_data):
    from kwanzaa_hub.contract.metrics.suite import score

    rows = [json.loads(line) for line in (shared_data / "kwanzaa_eval.jsonl").read_text(encoding="utf-8").splitlines()]
    refs = [r["messages"][-1]["content"] for r in rows]
    prompts = [r["messages"][1]["content"] for r in rows]
    s = score(refs, refs, prompts, threshold=0.5)
    assert s["format_compliance"] == 1.0
    assert s["citation_precision"] == 1.0
    assert s["refusal_accuracy"] == 1.0


def test_example_eval_references_score_perfectly_against_themselves(example_samples):
    from kwanzaa_hub.contract.metrics.suite import score

    held = example_samples[1]
    refs = [s["messages"][-1]["content"] for s in held]
    s = score(refs, refs, [s["messages"][1]["content"] for s in held], threshold=0.5)
    assert (s["format_compliance"], s["citation_precision"], s["citation_recall"], s["refusal_accuracy"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )


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


TEMPLATE_REF = answer("[This answer would synthesize multiple sources to provide [1] [2].]")


def test_text_metrics_average_over_real_references_only_and_the_report_gives_their_n():
    """Two prompts: one real reference citing [1][2], one template reference. The generation for the template prompt
    cites [1] only; it is left out of citation and grounding (no real answer to recall), not counted as a miss."""
    from kwanzaa_hub.contract.metrics import suite

    preds = [PERFECT, answer("Umoja means Unity [1].")]
    refs = [PERFECT, TEMPLATE_REF]
    s = suite.score(preds, refs, [PROMPT, PROMPT], threshold=0.5)
    assert (s["citation_precision"], s["citation_recall"], s["citation_f1"]) == (1.0, 1.0, 1.0)
    assert s["format_compliance"] == 1.0 and s["source_url_valid"] == 1.0  # over both prompts: 3 of 3 sources
    # under definitions 1 (every prompt) recall was 2 of 4: the template's [1] [2] "expected"
    assert load("citation_accuracy").compute(predictions=preds, references=refs, prompts=[PROMPT] * 2)[
        "citation_recall"
    ] == pytest.approx(3 / 4)
    assert suite.metric_n(refs) == {
        "citation_precision": 1,
        "citation_recall": 1,
        "citation_f1": 1,
        "grounded_sentence_rate": 1,
        "unsupported_number_rate": 1,
        "refusal_recall": 0,
        "false_refusal_rate": 2,
        "all_prompts": 2,
    }
    only_templates = suite.score([PERFECT], [TEMPLATE_REF], [PROMPT], threshold=0.5)
    assert "citation_f1" not in only_templates and "grounded_sentence_rate" not in only_templates
    assert only_templates["format_compliance"] == 1.0  # format, refusal and health still scored


def test_team_schema_validity_counts_answers_that_pass_the_teams_schema():
    """The team's schema asks for top_k >= 1, which the contract tolerates at 0: one of three fails it, and text that
    is not JSON never passes."""
    from kwanzaa_hub.contract.metrics import suite

    team = {
        "type": "object",
        "properties": {"retrieval_summary": {"type": "object", "properties": {"top_k": {"minimum": 1}}}},
    }
    zero = json.loads(PERFECT)
    zero["retrieval_summary"]["top_k"] = 0
    preds = [PERFECT, json.dumps(zero), "not json"]
    s = suite.score(preds, [PERFECT] * 3, [PROMPT] * 3, threshold=0.5, team_schema=team)
    assert s["team_schema_valid"] == pytest.approx(round(1 / 3, 4))
    assert s["json_valid_rate"] == pytest.approx(round(2 / 3, 4))
    assert "team_schema_valid" not in suite.score(preds, [PERFECT] * 3, [PROMPT] * 3, threshold=0.5)
