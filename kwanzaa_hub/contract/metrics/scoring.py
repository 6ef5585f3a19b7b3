"""The per-example judgements behind the metric specs (:mod:`kwanzaa_hub.contract.metrics.specs`).

Plain functions over one answer and one prompt's documents: the answer text, its sentences with the citations each
carries, token-level F1 against a reference text (SQuAD-style normalisation), the lexical support judge, numbers no
document holds, and the loop detector. A generation that is not JSON is judged, never crashed on: its raw text is
its answer text, it cites what that text cites, and it is not a refusal.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

from kwanzaa_hub.contract.answer import ParsedAnswer, extract_citations, parse_answer
from kwanzaa_hub.contract.documents import Document


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
    """Share of the sentence's content words found in the best-matching of ``documents`` (title + content); 0.0
    when there are none to judge against (a citation of a document that was not retrieved supports nothing)."""
    words = content_words(sentence)
    if not words:
        return 1.0
    best = 0.0
    for d in documents:
        doc_words = content_words(f"{d.title} {d.content}")
        best = max(best, len(words & doc_words) / len(words))
    return best


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_LEADING_CITES = re.compile(r"^(\s*\[\d+\])+")
_MARKER = re.compile(r"\[\d+\]")


def cited_sentences(text: str) -> list[tuple[str, set[int]]]:
    """The answer's sentences, each with the ``[n]`` it carries (markers removed from the sentence). Markers that open
    a piece (``Unity. [1] Next``) belong to the sentence before them. Pieces without content words are dropped."""
    out: list[tuple[str, set[int]]] = []
    for piece in _SENTENCE.split(text):
        lead = _LEADING_CITES.match(piece)
        if lead and out:
            out[-1][1].update(extract_citations(lead.group(0)))
            piece = piece[lead.end() :]
        cites = set(extract_citations(piece))
        sentence = _MARKER.sub("", piece).strip(" -*\t")
        if content_words(sentence):
            out.append((sentence, cites))
    return out


def support(
    text: str,
    documents: Sequence[Document],
    *,
    threshold: float,
    judge: Callable[[str, Sequence[Document]], float] = lexical_judge,
) -> float | None:
    """Supported cited sentences / sentences that carry ``[n]``: each judged against the documents it cites (not
    the best of all), so a true sentence that cites the wrong document fails. Uncited sentences are not judged;
    None when no sentence cites."""
    by_number = dict(enumerate(documents, 1))  # document i of the prompt is its [i]
    judged = [judge(s, [by_number[n] for n in sorted(c) if n in by_number]) for s, c in cited_sentences(text) if c]
    return sum(score >= threshold for score in judged) / len(judged) if judged else None


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_tokens(text: str) -> list[str]:
    """SQuAD's answer normalisation (lower case, punctuation and articles removed, whitespace collapsed) after the
    ``[n]`` markers are taken out (citations are judged by the citation metrics)."""
    text = _MARKER.sub(" ", text).lower().translate(_PUNCT)
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD's token-level F1 of two texts: 1.0 when both normalise to nothing, 0.0 when only one does."""
    p, r = normalize_tokens(prediction), normalize_tokens(reference)
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def set_f1(cited: set[int], expected: set[int]) -> float:
    """F1 of two citation sets: 1.0 when both are empty, 0.0 when only one is."""
    if not cited or not expected:
        return float(cited == expected)
    both = len(cited & expected)
    return 2 * both / (len(cited) + len(expected))


_NUMBER = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


def numbers(text: str) -> set[str]:
    """The numbers and years a text states outside ``[n]`` markers, commas dropped (``1,000`` = ``1000``)."""
    return {n.replace(",", "") for n in _NUMBER.findall(_MARKER.sub("", text))}


def unsupported_numbers(text: str, documents: Sequence[Document], query: str | None) -> set[str]:
    """The numbers ``text`` states that no document (title, content, source line) and not the query holds."""
    held = numbers(" ".join(f"{d.title} {d.content} {d.source_line}" for d in documents) + " " + (query or ""))
    return numbers(text) - held


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
