"""Distractor documents (kwanzaa_hub/contract/distractors.py): the answer renumbered exactly, nothing else changed,
every rewritten sample of the example and the team data still in the contract and in its new prompt's request
schema, the same seed the same bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from kwanzaa_hub.contract import decoding_schema, request_schema
from kwanzaa_hub.contract.answer import _CITATION, extract_citations, parse_answer
from kwanzaa_hub.contract.distractors import Pooled, add_distractors, distractor_split, eval_split, pool_of
from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.contract.prompt import parse_documents, user_message
from kwanzaa_hub.errors import InputError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DATA = REPO / "data" / "raw"


class Reversing(random.Random):
    """An rng whose draw keeps the pool's order and whose shuffle reverses: every new number is known in advance."""

    def sample(self, population, k, **_):
        return list(population)[:k]

    def shuffle(self, x):
        x.reverse()


def _doc(name: str) -> Document:
    return Document(f"Doc {name}", f"Content of {name}.", f"https://example.org/{name}", "Org", 1990, 0.5)


def _source(name: str) -> dict:
    return {
        "citation_label": f"Doc {name}",
        "canonical_url": f"https://example.org/{name}",
        "source_org": "Org",
        "year": 1990,
        "content_type": "article",
        "license": "CC-BY",
        "namespace": "ns",
        "doc_id": name,
        "chunk_id": f"{name}::1",
        "relevance_score": 0.5,
    }


def _result(rank: int, name: str) -> dict:
    return {
        "rank": rank,
        "score": 0.5,
        "citation_label": f"Doc {name}",
        "canonical_url": f"https://example.org/{name}",
        "doc_id": name,
        "chunk_id": f"{name}::1",
        "namespace": "ns",
    }


def _sample(names: list[str], text: str, cited: list[str], *, completeness: str = "complete", top_k: int = 5):
    answer = {
        "version": "kwanzaa.answer.v1",
        "answer": {"text": text, "completeness": completeness},
        "sources": [_source(n) for n in cited],
        "retrieval_summary": {
            "query": "q",
            "top_k": top_k,
            "namespaces": ["ns"],
            "results": [_result(i, n) for i, n in enumerate(names, 1)],
        },
        "unknowns": {"unsupported_claims": [], "missing_context": [], "clarifying_questions": []},
    }
    user = user_message("What happened?", [_doc(n) for n in names])
    return [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": user},
        {"role": "assistant", "content": json.dumps(answer)},
    ]


def _pool(*names: str, query: str = "Another question?") -> list[Pooled]:
    return [
        Pooled(d, f"from-{d.title[-1]}", query) for d in parse_documents(user_message(query, [_doc(n) for n in names]))
    ]


def _titles(sample) -> list[str]:
    return [d.title for d in parse_documents(sample[-2]["content"])]


def test_the_answer_is_renumbered_exactly_text_sources_and_results():
    """Documents A B C, distractors D E, shuffled by reversing: E D C B A, so A -> 5, B -> 4, C -> 3."""
    sample = _sample(["A", "B", "C"], "First [1][2], then [2] again; also [3]. And [1].", ["A", "C"])
    new, mapping = add_distractors(sample, _pool("D", "E"), 2, Reversing())

    assert _titles(new) == ["Doc E", "Doc D", "Doc C", "Doc B", "Doc A"]
    answer = json.loads(new[-1]["content"])
    assert answer["answer"]["text"] == "First [5][4], then [4] again; also [3]. And [5]."
    assert [s["doc_id"] for s in answer["sources"]] == ["C", "A"]  # rank order of the new prompt
    assert [(r["rank"], r["doc_id"]) for r in answer["retrieval_summary"]["results"]] == [(3, "C"), (4, "B"), (5, "A")]
    assert (mapping.numbers, mapping.distractors) == ({1: 5, 2: 4, 3: 3}, {2: "from-D", 1: "from-E"})
    assert mapping.renumbered and not mapping.top_k_raised
    assert mapping.record() == {
        "numbers": {"1": 5, "2": 4, "3": 3},
        "distractors": {"1": "from-E", "2": "from-D"},
        "renumbered": True,
    }
    # nothing else of the answer changed, and it is written as it was (one line here)
    old = json.loads(sample[-1]["content"])
    for key in ("version", "unknowns"):
        assert answer[key] == old[key]
    assert new[-1]["content"] == json.dumps(answer) and new[0] == sample[0]


def test_a_template_whose_text_cites_nothing_keeps_its_text_and_has_sources_and_results_renumbered():
    text = "[This answer demonstrates proper answer_json formatting for the edge case: a list]"
    sample = _sample(["A", "B"], text, ["A", "B"])
    assert placeholder_kind(text) == "demonstrates_format"
    new, mapping = add_distractors(sample, _pool("D"), 1, Reversing())  # D B A
    answer = json.loads(new[-1]["content"])
    assert answer["answer"]["text"] == text
    assert [s["doc_id"] for s in answer["sources"]] == ["B", "A"]
    assert [(r["rank"], r["doc_id"]) for r in answer["retrieval_summary"]["results"]] == [(2, "B"), (3, "A")]
    assert mapping.renumbered


def test_a_citation_or_a_rank_that_names_no_document_is_refused():
    with pytest.raises(ValueError, match=r"answer.text cites \[4\] but the prompt has documents \[1\]..\[3\]"):
        add_distractors(_sample(["A", "B", "C"], "See [4].", []), _pool("D"), 1, random.Random(0))
    sample = _sample(["A"], "See [1].", ["A"])
    answer = json.loads(sample[-1]["content"])
    answer["retrieval_summary"]["results"][0]["rank"] = 7
    sample[-1]["content"] = json.dumps(answer)
    with pytest.raises(ValueError, match=r"results\[0\].rank 7 names no document"):
        add_distractors(sample, _pool("D"), 1, random.Random(0))


def test_the_eval_split_names_a_reference_it_cannot_renumber_in_one_line():
    good, bad = _sample(["A", "B"], "See [1].", ["A"]), _sample(["C"], "See [4].", [])
    other = _sample(["D"], "See [1].", ["D"])
    other[1]["content"] = user_message("Who lit it?", [_doc("D")])  # distractors never come from the same question
    prompts, refs, maps = eval_split(
        [good[:-1], other[:-1]], [good[-1]["content"], other[-1]["content"]], 1, ["a", "b"]
    )
    assert [len(parse_documents(p[-1]["content"])) for p in prompts] == [3, 2]  # one document of the other prompt
    assert maps[0]["numbers"].keys() == {"1", "2"} and list(maps[1]["distractors"].values()) == ["a"]
    with pytest.raises(InputError) as err:
        eval_split([good[:-1], bad[:-1]], [good[-1]["content"], bad[-1]["content"]], 1, ["eval-1", "eval-2"])
    assert str(err.value).startswith("eval.distractors 1: 1 reference(s) cannot be renumbered (eval-2: answer.text")
    assert "\n" not in str(err.value) and "eval.distractors: 0" in str(err.value)


def test_a_refusal_without_documents_gets_distractors_and_stays_a_refusal():
    sample = _sample([], "The documents hold nothing on this.", [], completeness="insufficient_data", top_k=0)
    new, mapping = add_distractors(sample, _pool("D", "E", "F"), 2, Reversing())
    assert _titles(new) == ["Doc E", "Doc D"]
    answer = json.loads(new[-1]["content"])
    assert answer["answer"] == json.loads(sample[-1]["content"])["answer"]
    assert answer["retrieval_summary"]["top_k"] == 2 and mapping.top_k_raised  # at least the documents shown
    assert parse_answer(new[-1]["content"]).is_refusal


def test_a_prompt_without_documents_whose_answer_is_not_a_refusal_is_left_as_it_is():
    sample = _sample([], "Hello! Ask me about Kwanzaa.", [], top_k=0)
    new, mapping = add_distractors(sample, _pool("D"), 2, random.Random(0))
    assert new == sample and mapping.distractors == {}


def test_distractors_are_never_the_prompts_own_a_duplicate_or_from_the_same_question():
    sample = _sample(["A", "B"], "See [1].", ["A"])
    same_url = Pooled(Document("Other title", "Other words.", "https://example.org/A", "Org"), "x", "Q?")
    same_content = Pooled(Document("Copy", "Content  of B.", "https://copy.org/B", "Org"), "y", "Q?")
    same_question = Pooled(_doc("S"), "z", "What happened?")
    pool = [same_url, same_content, same_question, *_pool("D"), *_pool("D"), *_pool("A")]
    for seed in range(20):
        new, mapping = add_distractors(sample, pool, 3, random.Random(seed))
        assert sorted(_titles(new)) == ["Doc A", "Doc B", "Doc D"], seed
        assert list(mapping.distractors.values()) == ["from-D"]


def _example_rows() -> dict[str, list[list[dict]]]:
    if not (EXAMPLE_DATA / "kwanzaa_train.jsonl").is_file():
        pytest.skip("data/raw is absent: run `dvc pull data.dvc`")
    return {f.name: _rows(f) for f in sorted(EXAMPLE_DATA.glob("*.jsonl"))}


def _rows(path: Path) -> list[list[dict]]:
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _data_sets(shared_data_dir: Path | None) -> dict[str, list[list[dict]]]:
    if shared_data_dir is None:
        return _example_rows()
    return {f.name: _rows(f) for f in sorted(shared_data_dir.glob("*.jsonl"))}


@pytest.fixture(params=["example", "team"])
def data_sets(request) -> dict[str, list[list[dict]]]:
    return _data_sets(None if request.param == "example" else request.getfixturevalue("shared_data"))


def _validate(data: dict, schema: dict) -> bool:
    import jsonschema
    from jsonschema.validators import validator_for

    try:
        validator_for(schema)(schema).validate(data)
    except jsonschema.ValidationError:
        return False
    return True


def _passes_its_prompt(static: dict, messages: list[dict]) -> bool:
    """The answer against the request schema of its own prompt (as tests/test_request_schema.py checks it); an
    authoring template, whose text no request schema accepts, is held to it in every field but its text."""
    schema = request_schema.for_prompt(static, messages[-2]["content"])
    data = decoding_schema.canonical(json.loads(messages[-1]["content"]))
    if placeholder_kind(data["answer"]["text"]):
        schema["properties"]["answer"] = static["properties"]["answer"]
    return _validate(data, schema)


def test_zero_distractors_give_back_every_sample_byte_for_byte(data_sets):
    for name, rows in data_sets.items():
        out = distractor_split(rows, 0)
        assert [json.dumps(new) for new, _ in out] == [json.dumps(row) for row in rows], name
        assert not any(m.renumbered or m.distractors for _, m in out)


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_every_rewritten_sample_keeps_its_words_and_passes_the_contract_and_its_new_prompts_schema(data_sets, k):
    for name, rows in data_sets.items():
        out = distractor_split(rows, k)
        static = decoding_schema.from_answers([new[-1]["content"] for new, _ in out], margin=1.5)
        static_before = decoding_schema.from_answers([row[-1]["content"] for row in rows], margin=1.5)
        for i, (row, (new, mapping)) in enumerate(zip(rows, out, strict=True)):
            where = f"{name}:{i + 1} k={k}"
            parsed = parse_answer(new[-1]["content"])
            assert parsed.compliant, (where, parsed.errors)
            old = json.loads(row[-1]["content"])
            docs = parse_documents(new[-2]["content"])
            n_own = len(parse_documents(row[-2]["content"]))
            assert len(docs) == n_own + len(mapping.distractors), where
            # the words are the same; every citation names the same document as before
            old_text, text = old["answer"]["text"], parsed.data["answer"]["text"]
            assert _CITATION.sub("[]", text) == _CITATION.sub("[]", old_text), where
            assert extract_citations(text) == [mapping.numbers[n] for n in extract_citations(old_text)], where
            assert {d.url for d in docs} >= {s["canonical_url"] for s in parsed.data["sources"]}, where
            for r in parsed.data["retrieval_summary"]["results"]:
                assert docs[r["rank"] - 1].url == (r.get("canonical_url") or r["metadata"]["canonical_url"]), where
            # the request schema of the new prompt takes it whenever the old prompt's took the old answer
            if _passes_its_prompt(static_before, row):
                assert _passes_its_prompt(static, new), where
        # samples with documents (or refusals) get k distractors: the pool holds enough
        assert sum(len(m.distractors) == k for _, m in out) >= len(rows) - 1, name


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_ones():
    rows = [row for rows in _example_rows().values() for row in rows]
    first = json.dumps([new for new, _ in distractor_split(rows, 2, seed=7)])
    assert json.dumps([new for new, _ in distractor_split(rows, 2, seed=7)]) == first
    assert json.dumps([new for new, _ in distractor_split(rows, 2, seed=8)]) != first


def test_the_pool_holds_each_document_once_with_the_sample_it_came_from():
    rows = [_sample(["A", "B"], "[1]", ["A"]), _sample(["B", "C"], "[1]", ["B"])]
    pool = pool_of(rows, ids=["s1", "s2"])
    assert [(p.document.title, p.origin) for p in pool] == [("Doc A", "s1"), ("Doc B", "s1"), ("Doc C", "s2")]


@pytest.fixture(scope="module")
def grammar_tok(tiny_tokenizer):
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tiny_tokenizer)


def test_the_grammar_of_the_new_prompts_request_schema_takes_every_rewritten_real_answer(data_sets, grammar_tok):
    """What a constrained decoder would be held to, token by token (as tests/test_request_schema.py checks it)."""
    from tests.test_request_schema import _accepts

    for name, rows in data_sets.items():
        out = distractor_split(rows, 2)
        texts = [new[-1]["content"] for new, _ in out]
        static, style = decoding_schema.from_answers(texts, margin=1.5), decoding_schema.json_style(texts)
        static_before = decoding_schema.from_answers([row[-1]["content"] for row in rows], margin=1.5)
        checked = 0
        for i, (row, (new, _)) in enumerate(zip(rows, out, strict=True)):
            data = decoding_schema.canonical(json.loads(new[-1]["content"]))
            if placeholder_kind(data["answer"]["text"]) or not _passes_its_prompt(static_before, row):
                continue
            schema = request_schema.for_prompt(static, new[-2]["content"])
            assert _accepts(grammar_tok, schema, decoding_schema.dumps(data, style)), f"{name}:{i + 1}"
            checked += 1
        assert checked >= len(rows) // 3, name
