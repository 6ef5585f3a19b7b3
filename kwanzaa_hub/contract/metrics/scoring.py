"""Exact definitions of the four task metrics, on hand-made or generated answers.

Inputs per example: the generation (``prediction``), the reference assistant message (``reference``) and
the user message holding the retrieved documents (``prompt``). A generation that is not JSON is scored,
never crashed on: it is non-compliant, cites nothing through the contract, and is not a refusal.
Micro-averages are used throughout (sums over all examples, then one division).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from kwanzaa_hub.contract.answer import Document, ParsedAnswer, extract_citations, parse_answer, parse_documents


def _answer_text(p: ParsedAnswer, raw: str) -> str:
    """The answer text of a generation: ``answer.text`` when it decoded, else the raw text."""
    if (
        isinstance(p.data, dict)
        and isinstance(p.data.get("answer"), dict)
        and isinstance(p.data["answer"].get("text"), str)
    ):
        return p.data["answer"]["text"]
    return raw


def answer_text(generation: str) -> str:
    """The answer text of a generation: ``answer.text`` when it decoded, else the raw text."""
    return _answer_text(parse_answer(generation), generation)


def format_compliance(predictions: Sequence[str]) -> dict[str, float]:
    """``format_compliance``: share of generations that are valid JSON *and* validate against
    kwanzaa.answer.v1. ``json_valid_rate``: share that are valid JSON at all."""
    parsed = [parse_answer(p) for p in predictions]
    n = len(parsed) or 1
    return {
        "format_compliance": sum(p.compliant for p in parsed) / n,
        "json_valid_rate": sum(p.json_valid for p in parsed) / n,
    }


def team_schema_validity(predictions: Sequence[str], schema: dict) -> dict[str, float]:
    """``team_schema_valid``: share of generations that are JSON and validate against ``schema``, the team's own
    ``answer_json.schema.json`` (stricter than the contract in places: ``top_k`` >= 1, retrieval results' label and
    URL at the top level). Validated with the validator its ``$schema`` names; ``format`` is not asserted."""
    from jsonschema.validators import validator_for

    validator = validator_for(schema)(schema)
    passed = 0
    for text in predictions:
        p = parse_answer(text)
        passed += p.json_valid and validator.is_valid(p.data)
    return {"team_schema_valid": passed / (len(predictions) or 1)}


def citation_accuracy(
    predictions: Sequence[str], references: Sequence[str], prompts: Sequence[str]
) -> dict[str, float]:
    """Over the distinct ``[n]`` citations of each generated answer text:

    - ``citation_precision`` = cited numbers that name a retrieved document of that prompt / all cited
      numbers (0.0 when nothing was cited anywhere);
    - ``citation_recall`` = cited numbers that the reference also cites / all numbers the references cite
      (1.0 when the references cite nothing);
    - ``citation_f1``: their harmonic mean (0.0 when both are 0);
    - ``source_url_valid`` = generated ``sources`` entries whose ``canonical_url`` is a retrieved
      document's URL / all generated sources (0.0 when none were generated).
    """
    cited = valid = ref_total = recalled = sources = good_sources = 0
    for pred, ref, prompt in zip(predictions, references, prompts, strict=True):
        docs = parse_documents(prompt)
        numbers = set(range(1, len(docs) + 1))  # document i of the prompt is its [i]
        urls = {d.url for d in docs}
        p = parse_answer(pred)
        generated = set(extract_citations(_answer_text(p, pred)))
        expected = set(extract_citations(_answer_text(parse_answer(ref), ref)))
        cited += len(generated)
        valid += len(generated & numbers)
        ref_total += len(expected)
        recalled += len(generated & expected)
        if isinstance(p.data, dict) and isinstance(p.data.get("sources"), list):
            for s in p.data["sources"]:
                sources += 1
                good_sources += isinstance(s, dict) and s.get("canonical_url") in urls
    precision = valid / cited if cited else 0.0
    recall = recalled / ref_total if ref_total else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "citation_precision": precision,
        "citation_recall": recall,
        "citation_f1": f1,
        "source_url_valid": good_sources / sources if sources else 0.0,
    }


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    (
        "the a an and or of to in on for from with by as at is are was were be been it its this that these "
        "those which who whom what when where how why not no there their they them he she his her our we you "
        "your i also can could would should may might do does did has have had than then so such into about "
        "over each "
    ).split()
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def lexical_judge(sentence: str, documents: Sequence[Document]) -> float:
    """Share of the sentence's content words found in the best-matching document (title + content)."""
    words = content_words(sentence)
    if not words:
        return 1.0
    best = 0.0
    for d in documents:
        doc_words = content_words(f"{d.title} {d.content}")
        best = max(best, len(words & doc_words) / len(words))
    return best


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


def sentences(text: str) -> list[str]:
    """Answer sentences with citation markers removed; empty pieces dropped."""
    out = []
    for s in _SENTENCE.split(re.sub(r"\[\d+\]", "", text)):
        s = s.strip(" -*\t")
        if content_words(s):
            out.append(s)
    return out


def grounding(
    predictions: Sequence[str],
    prompts: Sequence[str],
    *,
    threshold: float = 0.5,
    judge: Callable[[str, Sequence[Document]], float] = lexical_judge,
) -> dict[str, float]:
    """Over generations that are not refusals:

    - ``grounded_sentence_rate`` = answer sentences whose judge score against the retrieved documents is
      at least ``threshold`` / all answer sentences (0.0 when there are none);
    - ``unsupported_number_rate`` = answers stating a number or year (outside ``[n]`` markers) that appears
      in no retrieved document / answers considered (0.0 when none).

    ``judge`` scores how well a sentence is supported by the documents, in [0, 1] (an NLI model can replace
    the lexical one).
    """
    total = supported = answers = bad_numbers = 0
    for pred, prompt in zip(predictions, prompts, strict=True):
        p = parse_answer(pred)
        if p.is_refusal:
            continue
        docs = parse_documents(prompt)
        text = _answer_text(p, pred)
        answers += 1
        for s in sentences(text):
            total += 1
            supported += judge(s, docs) >= threshold
        doc_numbers = {n.replace(",", "") for d in docs for n in _NUMBER.findall(f"{d.title} {d.content}")}
        stated = {n.replace(",", "") for n in _NUMBER.findall(re.sub(r"\[\d+\]", "", text))}
        bad_numbers += bool(stated - doc_numbers)
    return {
        "grounded_sentence_rate": supported / total if total else 0.0,
        "unsupported_number_rate": bad_numbers / answers if answers else 0.0,
    }


def refusal(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """A refusal is ``answer.completeness == "insufficient_data"`` (non-JSON never counts as one).

    - ``refusal_recall`` = prompts refused among those whose reference refuses (1.0 when none do);
    - ``false_refusal_rate`` = prompts refused among answerable ones (0.0 when none are);
    - ``refusal_balanced_accuracy`` = the mean, over the classes present in the references, of each class's
      accuracy (refusal recall, and 1 - false refusal rate): a model that never refuses, or always does,
      scores 0.5 however the prompts are split;
    - ``refusal_f1`` = F1 over the refusal class (1.0 when nothing should be refused and nothing was);
    - ``refusal_accuracy`` = prompts where generation and reference agree on refusing / all prompts. It
      rewards the majority class, so it is reported but is not a headline metric.
    """
    should = did = both = answerable = false = agree = 0
    for pred, ref in zip(predictions, references, strict=True):
        r = parse_answer(ref).is_refusal
        g = parse_answer(pred).is_refusal
        should += r
        both += r and g
        answerable += not r
        false += (not r) and g
        agree += r == g
        did += g
    n = len(predictions) or 1
    recall = both / should if should else 1.0
    false_rate = false / answerable if answerable else 0.0
    per_class = ([recall] if should else []) + ([1.0 - false_rate] if answerable else [])
    precision = both / did if did else (1.0 if not should else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "refusal_recall": recall,
        "false_refusal_rate": false_rate,
        "refusal_balanced_accuracy": sum(per_class) / len(per_class) if per_class else 1.0,
        "refusal_f1": f1,
        "refusal_accuracy": agree / n,
    }


_TOKEN = re.compile(r"\S+")
LOOP_NGRAM = 12
LOOP_REPEATS = 5


def is_looping(text: str, *, n: int = LOOP_NGRAM, repeats: int = LOOP_REPEATS) -> bool:
    """True when some run of ``n`` words occurs ``repeats`` times or more: a model stuck in a loop. The
    team's reference answers repeat a 12-word run at most 3 times (pretty-printed JSON with similar
    sources), so 5 leaves a margin (tested on the real data)."""
    words = _TOKEN.findall(text)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        counts[gram] = counts.get(gram, 0) + 1
        if counts[gram] >= repeats:
            return True
    return False


def generation_health(predictions: Sequence[str], stop_reasons: Sequence[str]) -> dict[str, float]:
    """- ``truncated_rate`` = generations that stopped because ``max_new_tokens`` ran out (stop reason
      ``length``: no end-of-turn token and no closed JSON object) / all generations;
    - ``budget_closed_rate`` = generations that constrained decoding closed early so the budget would not cut them
      (stop reason ``budget``: a whole object whose text is cut short) / all generations;
    - ``repetition_rate`` = generations that fall into a loop (:func:`is_looping`) / all generations;
    - ``answer_repetition_rate`` = generations whose answer text (``answer.text`` when it decoded, else the raw
      text) loops / all generations. A schema contains a loop within its bounds but does not cure it: this is the
      loop measure that still means something under constrained decoding;
    - ``placeholder_rate`` = generations whose answer text is an authoring template
      (:func:`kwanzaa_hub.contract.placeholders.placeholder_kind`) / all generations."""
    from kwanzaa_hub.contract.placeholders import placeholder_kind

    n = len(predictions) or 1
    texts = [_answer_text(parse_answer(p), p) for p in predictions]
    return {
        "truncated_rate": sum(r == "length" for r in stop_reasons) / n,
        "budget_closed_rate": sum(r == "budget" for r in stop_reasons) / n,
        "repetition_rate": sum(is_looping(p) for p in predictions) / n,
        "answer_repetition_rate": sum(is_looping(t) for t in texts) / n,
        "placeholder_rate": sum(placeholder_kind(t) is not None for t in texts) / n,
    }
