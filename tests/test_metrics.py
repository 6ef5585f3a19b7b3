"""The four metric modules on hand-made predictions, loaded through evaluate from their local folders."""

import json

import pytest

from kwanzaa_hub.metrics import load

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


def test_per_category_breakdown_keys():
    from kwanzaa_hub.evaluation import score_by_category

    flat = score_by_category(
        [PERFECT, REF_REFUSAL], [PERFECT, REF_REFUSAL], [PROMPT, NO_DOCS], ["grounded", "refusal"], threshold=0.5
    )
    assert flat["format_compliance"] == 1.0
    assert flat["refusal.refusal_accuracy"] == 1.0 and flat["grounded.citation_precision"] == 1.0
    assert flat["refusal.citation_precision"] == 0.0


def test_real_eval_references_score_perfectly_against_themselves(shared_data):
    from kwanzaa_hub.evaluation import score

    rows = [json.loads(line) for line in (shared_data / "kwanzaa_eval.jsonl").read_text(encoding="utf-8").splitlines()]
    refs = [r["messages"][-1]["content"] for r in rows]
    prompts = [r["messages"][1]["content"] for r in rows]
    s = score(refs, refs, prompts, threshold=0.5)
    assert s["format_compliance"] == 1.0
    assert s["citation_precision"] == 1.0
    assert s["refusal_accuracy"] == 1.0


def test_example_eval_references_score_perfectly_against_themselves(example_samples):
    from kwanzaa_hub.evaluation import score

    held = example_samples[1]
    refs = [s["messages"][-1]["content"] for s in held]
    s = score(refs, refs, [s["messages"][1]["content"] for s in held], threshold=0.5)
    assert (s["format_compliance"], s["citation_precision"], s["citation_recall"], s["refusal_accuracy"]) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )
