import copy
import json

import pytest

from kwanzaa_hub.contract.answer import AnswerV1, extract_citations, parse_answer
from kwanzaa_hub.contract.prompt import parse_documents, parse_query

USER = (
    "Retrieved Documents:\n\n"
    "[1] First title\nRelevance Score: 0.91\nSource: Org A (1966)\nContent: Line one.\ncontinued here.\nURL: https://a.example/1\n\n"
    "[2] Second — ünïcode\nRelevance Score: 0.5\nSource: Org B (2001)\nContent: Two.\nURL: https://b.example/2\n\n"
    "Query: What happened?\n\nProvide your response as valid JSON following the answer_json contract."
)


def good_answer() -> dict:
    return {
        "version": "kwanzaa.answer.v1",
        "answer": {"text": "It happened [1][2].", "completeness": "complete", "confidence": 0.9},
        "sources": [
            {
                "citation_label": "First",
                "canonical_url": "https://a.example/1",
                "source_org": "Org A",
                "year": 1966,
                "content_type": "article",
                "license": "CC BY 4.0",
                "namespace": "ns",
                "doc_id": "a",
                "chunk_id": "a::0",
            }
        ],
        "retrieval_summary": {"query": "What happened?", "top_k": 5, "namespaces": ["ns"], "results": []},
        "unknowns": {"unsupported_claims": [], "missing_context": [], "clarifying_questions": []},
    }


def test_parse_documents_reads_every_block():
    docs = parse_documents(USER)
    assert len(docs) == 2  # document i is [i + 1]
    assert docs[0].title == "First title"
    assert docs[0].content == "Line one. continued here."  # a hand-wrapped Content line reads as one line
    assert docs[0].url == "https://a.example/1"
    assert docs[0].relevance == 0.91
    assert docs[1].title == "Second — ünïcode"
    assert (docs[1].publisher, docs[1].year) == ("Org B", 2001)
    assert parse_query(USER) == "What happened?"


def test_parse_documents_none_retrieved():
    text = "Query: Hi\n\nNo relevant documents were retrieved from the corpus."
    assert parse_documents(text) == []
    assert parse_query(text) == "Hi"


def test_extract_citations_in_order_with_repeats():
    assert extract_citations("a [1][2] b [10], c [1] and [x] [ 3]") == [1, 2, 10, 1]
    assert extract_citations("none here") == []


def test_parse_answer_ok_and_refusal_property():
    p = parse_answer(json.dumps(good_answer()))
    assert p.status == "ok" and p.compliant and p.json_valid
    assert not p.is_refusal
    refusal = good_answer()
    refusal["answer"]["completeness"] = "insufficient_data"
    assert parse_answer(json.dumps(refusal)).is_refusal


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda a: a.pop("unknowns"), "unknowns: required field is missing"),
        (lambda a: a.__setitem__("extra", 1), "extra: not a field of kwanzaa.answer.v1"),
        (lambda a: a["answer"].__setitem__("completeness", "done"), "answer.completeness"),
        (lambda a: a["answer"].__setitem__("confidence", 1.5), "answer.confidence"),
        (lambda a: a["answer"].__setitem__("text", ""), "answer.text"),
        (lambda a: a["sources"][0].__setitem__("year", "1966"), "sources[0].year"),
        (lambda a: a["sources"][0].__setitem__("year", 1500), "sources[0].year"),
        (lambda a: a["sources"][0].__setitem__("canonical_url", "not a url"), "sources[0].canonical_url"),
        (lambda a: a.__setitem__("version", "kwanzaa.answer.vX"), "version"),
        (lambda a: a["retrieval_summary"].__setitem__("namespaces", []), "retrieval_summary.namespaces"),
    ],
)
def test_contract_violations_name_the_field(mutate, fragment):
    a = good_answer()
    mutate(a)
    p = parse_answer(json.dumps(a))
    assert p.status == "contract_violation"
    assert any(fragment in e for e in p.errors), p.errors


def test_truncated_json_and_non_object_and_deep_nesting():
    text = json.dumps(good_answer())
    assert parse_answer(text[: len(text) // 2]).status == "invalid_json"
    assert parse_answer("[1, 2]").status == "contract_violation"
    deep = "[" * 10000 + "]" * 10000
    assert parse_answer(deep).status in ("invalid_json", "contract_violation")


def test_unicode_text_is_fine():
    a = good_answer()
    a["answer"]["text"] = "Habari gani — «Umoja» 🕯️ [1]"
    assert parse_answer(json.dumps(a, ensure_ascii=False)).compliant


def test_pydantic_contract_agrees_with_the_json_schema(shared_data):
    """Our models accept and reject the same documents as the team's JSON Schema (draft-07)."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((shared_data / "answer_json.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    cases = [good_answer()]
    for path, value in [
        (("answer", "completeness"), "done"),
        (("answer", "confidence"), -0.1),
        (("answer", "tone"), "angry"),
        (("persona",), "pirate"),
        (("model_mode",), "x"),
        (("retrieval_summary", "top_k"), 101),
        (("unknowns", "missing_context"), "a string"),
        (("sources",), {}),
        (("integrity",), {"retrieval_confidence": "meh"}),
    ]:
        a = copy.deepcopy(good_answer())
        target = a
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        cases.append(a)
    for case in cases:
        schema_ok = validator.is_valid(case)
        assert parse_answer(json.dumps(case)).compliant == schema_ok, case


def test_real_data_is_compliant_with_named_deviations(shared_data):
    n = deviating = 0
    for name in ("kwanzaa_train.jsonl", "kwanzaa_eval.jsonl"):
        for line in (shared_data / name).read_text(encoding="utf-8").splitlines():
            p = parse_answer(json.loads(line)["messages"][-1]["content"])
            assert p.compliant, p.errors
            n += 1
            deviating += bool(p.deviations)
    assert n == 134
    assert deviating == 19  # results with label/URL under 'metadata' (18) and one top_k of 0


def test_model_rejects_unknown_top_level_key_directly():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="surprise"):
        AnswerV1.model_validate({**good_answer(), "surprise": True})


@pytest.mark.parametrize("layout", ["pretty", "compact"])
def test_the_answer_text_span_is_its_encoded_value_in_the_answer_as_written(layout):
    """data.placeholders: mask masks these characters: the value of the top-level answer's "text" as the JSON
    writes it (escapes and all), never a "text" elsewhere that holds the same characters."""
    from kwanzaa_hub.contract.decoding_schema import compact
    from kwanzaa_hub.contract.placeholders import answer_text_span

    answer = good_answer()
    text = '[This answer would synthesize "text": sources \\ é [1]]\n'
    answer["answer"]["text"] = text
    answer["sources"][0]["text"] = text  # the same characters earlier in the message, under a key "text"
    answer["retrieval_summary"]["query"] = '"text": "' + text
    answer = {"sources": answer.pop("sources"), "retrieval_summary": answer.pop("retrieval_summary"), **answer}
    message = json.dumps(answer, indent=2) if layout == "pretty" else compact(answer)
    start, end = answer_text_span(message)
    assert message[start - 1] == '"' == message[end]
    assert json.loads(message[start - 1 : end + 1]) == text
    assert start > message.index('"answer"') and message.count(message[start:end]) >= 2
    for broken in ("", "[1]", '{"answer": "flat"}', '{"answer": {"text": 1}}', message[:end]):
        with pytest.raises(ValueError):
            answer_text_span(broken)
