"""The decoding schema of one request: the version's bounded schema held to the documents retrieved for it.

A version ships one static schema (``answer.schema.json``, :mod:`kwanzaa_hub.contract.decoding_schema`): it bounds
every field but cannot know which documents a question was answered from, so a model may cite ``[7]`` with three
documents or list a source with an invented URL, and the static schema accepts it. :func:`for_documents` narrows the
static schema to one prompt's documents (what vLLM's ``response_format`` and llama.cpp's ``json_schema`` accept per
request):

- ``sources``: each item is one of the documents, with the fields the prompt states *pinned* (``const``), each
  document at most once and in rank order (as all 134 reference answers list them), none when nothing was
  retrieved. Pinned, because every reference answer of the team's data
  copies them verbatim (215 of 215 sources): ``citation_label`` = the title, ``canonical_url`` = the URL,
  ``source_org`` and ``year`` = the ``Source: Org (1998)`` line, ``relevance_score`` = the relevance score. The
  other source fields (``content_type``, ``license``, ``namespace``, ``doc_id``, ``chunk_id``, ``tags``) are not in
  the prompt and keep the static bounds. A value a decoder cannot write as plain text (special-token text such as
  ``<|eot_id|>``: :func:`pinnable`) is not pinned; a document whose URL is not pinned cannot be listed.
- ``retrieval_summary.results``: each item names one document by ``rank`` (its number) and ``canonical_url`` (234 of
  234 results in the team's data); each document at most once, in rank order. Their ``score`` and
  ``citation_label`` are not pinned: 18 and 24 reference results round or shorten them.
- ``retrieval_summary.top_k``: at least the number of documents and at least 1 (the team's schema refuses 0).
- At most :data:`~kwanzaa_hub.contract.documents.MAX_DOCUMENTS` documents (10): the rules above hold at every k up
  to it; more is an ``InputError`` (exit 2), never weaker rules or a grammar too large to compile.
- ``answer.text``: a bracketed number is a citation, and only ``[1]`` .. ``[k]`` can be written (none when k = 0);
  a ``[`` that opens anything else is followed by a character that is not a digit, and the text never opens with
  one: every authoring template does (``[This answer would ...``), no real reference answer.
- ``answer``: with documents retrieved, it cites at least one of them or is a refusal (``completeness:
  insufficient_data``): an uncited answer is never served as if grounded (:func:`cite_or_refuse`).

No real reference answer of the team's data is excluded by these rules (tests/test_request_schema.py checks all 134:
the one refused is a greeting with ``top_k: 0``, which the team's schema refuses too; the 79 authoring templates,
each opening with ``[``, are refused and counted apart).
:func:`schema_for` is the public entry: documents as the backend has them (dicts, as ``kwanzaa-hub ask --docs``
reads them) in, the request's schema out. It renders the documents into the prompt's text and reads them back
(:func:`~kwanzaa_hub.contract.prompt.parse_documents`), so the values pinned are the values the model was shown.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Sequence
from typing import Any

from kwanzaa_hub.contract.answer import REFUSAL
from kwanzaa_hub.contract.decoding_schema import URL_PATTERN
from kwanzaa_hub.contract.documents import Document, check_count, from_dicts
from kwanzaa_hub.contract.prompt import parse_documents, user_message

#: The contract's limits on the pinned source fields: a document whose value breaks one leaves that field unpinned.
_LIMITS = {"citation_label": 500, "source_org": 200}
#: Text shaped like a special token of a tokenizer (``<|eot_id|>``, ``<|im_end|>``, ``<filename>``, ``<s>``): a
#: grammar-constrained decoder writes a pinned value's text with the tokenizer's own tokens, and this text becomes the
#: special token, which the decoder blocks (an end id) or drops when it decodes, so the answer would be cut. A value
#: holding it is never pinned, with or without the tokenizer at hand (``kwanzaa-hub schema``, ``schema_for``).
SPECIAL_SHAPE = re.compile(r"<[^\s<>]{1,64}>")


def pinnable(value: str, reserved: Collection[str] = ()) -> bool:
    """Whether a constrained decoder can write ``value`` as plain text: it holds neither text shaped like a special
    token (:data:`SPECIAL_SHAPE`) nor any of ``reserved`` (the special tokens' texts of the tokenizer that decodes,
    :func:`kwanzaa_hub.runtime.chat.special_token_texts`)."""
    return not SPECIAL_SHAPE.search(value) and not any(t and t in value for t in reserved)


def source_fields(doc: Document, reserved: Collection[str] = ()) -> dict[str, Any]:
    """The source fields of ``doc`` that its prompt block states, as a reference answer copies them (contract key
    order). A field the block lacks, whose value the contract would refuse, or that a decoder could not write as
    plain text (:func:`pinnable`: special-token text), is left out (not pinned)."""
    out: dict[str, Any] = {}
    if doc.title and len(doc.title) <= _LIMITS["citation_label"] and pinnable(doc.title, reserved):
        out["citation_label"] = doc.title
    if doc.url and re.match(URL_PATTERN, doc.url) and pinnable(doc.url, reserved):
        out["canonical_url"] = doc.url
    if doc.publisher and len(doc.publisher) <= _LIMITS["source_org"] and pinnable(doc.publisher, reserved):
        out["source_org"] = doc.publisher
    if doc.year is not None and 1600 <= doc.year <= 2100:
        out["year"] = doc.year
    if doc.relevance is not None and 0.0 <= doc.relevance <= 1.0:
        out["relevance_score"] = doc.relevance
    return out


def _numbers(k: int) -> str:
    return "|".join(str(n) for n in range(1, k + 1))


def _text_atoms(k: int) -> str:
    """One step of an answer text with ``k`` documents: a character that is not ``[``, a citation ``[1]`` ..
    ``[k]``, or a ``[`` followed by a character that is neither a digit nor ``[`` (``Symbol[]``, ``[This ...``)."""
    other = r"\[[^0-9\[]"
    if k <= 0:
        return rf"[^\[]|{other}"
    return rf"[^\[]|\[({_numbers(k)})\]|{other}"


def citation_pattern(k: int) -> str:
    """The regex an answer text must match when ``k`` documents were retrieved: every ``[`` followed by a digit is a
    citation ``[1]`` .. ``[k]``; any other ``[`` is followed by a character that is neither a digit nor ``[``
    (``Symbol[]`` stays possible), and never opens the text: its first character after any whitespace is not ``[``
    unless a citation opens it. Every authoring template opens with ``[`` (``[This answer would ...``, ``[Generated
    answer for: ...]``: 79 of 79 in the team's data); no real reference does (0 of 55, and 0 of 90 example answers)."""
    first = r"[^\s\[]" if k <= 0 else rf"[^\s\[]|\[({_numbers(k)})\]"
    return rf"^\s*(({first})({_text_atoms(k)})*)?$"


def cited_pattern(k: int) -> str:
    """:func:`citation_pattern` with at least one citation ``[1]`` .. ``[k]`` written (``k`` >= 1), and no other ``[``
    before the first one (no real reference answer has one: the authoring templates, ``[This answer ...``, do).
    The simpler prefix is also what lets llguidance decide that the pattern and the text's length bounds leave
    something: with ``[`` allowed before the first citation, that check gives up and the grammar does not compile."""
    return rf"^[^\[]*\[({_numbers(k)})\]({_text_atoms(k)})*$"


def cite_or_refuse(answer: dict[str, Any], k: int) -> dict[str, Any]:
    """The ``answer`` object of a request with ``k`` >= 1 documents: its text cites at least one of them, or its
    ``completeness`` is the refusal (``insufficient_data``). Every real reference answer of the team's data with
    documents does one or the other (20 of 20 answers cite; 5 of 23 refusals cite too, which stays allowed); only 8
    authoring templates (``[This answer demonstrates ...]``) do neither. The text comes first, so a text closed
    without a citation leaves only the refusal to write."""
    cites = copy.deepcopy(answer)
    cites["properties"]["text"]["pattern"] = cited_pattern(k)
    refuses = copy.deepcopy(answer)
    refuses["properties"]["completeness"] = {"const": REFUSAL}
    refuses["required"] = [*[r for r in answer.get("required", []) if r != "completeness"], "completeness"]
    return {"anyOf": [cites, refuses]}


def _pinned(item: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(item)
    for key, value in values.items():
        if key in node["properties"]:
            node["properties"][key] = {"const": value}
    return node


def _one_per_document(
    array: dict[str, Any], options: list[dict[str, Any]], name: str, defs: dict[str, Any]
) -> dict[str, Any]:
    """``array`` (a list of sources or results) held to ``options`` (one item schema per document, in rank order):
    each document at most once, in rank order, as every reference answer lists them (134 of 134)."""
    from itertools import combinations

    n = len(options)
    low, high = array.get("minItems", 0), min(array.get("maxItems", n), n)
    if n == 0:
        return {**array, "maxItems": 0}
    refs = []
    for i, option in enumerate(options, 1):
        defs[f"{name}_{i}"] = option
        refs.append({"$ref": f"#/$defs/{name}_{i}"})
    kept = {k: v for k, v in array.items() if k not in ("type", "items", "minItems", "maxItems")}
    tuples = [
        {"type": "array", "prefixItems": [refs[i] for i in chosen], "items": False, "minItems": size, "maxItems": size}
        if size
        else {"type": "array", "maxItems": 0}  # prefixItems may not be empty
        for size in range(low, high + 1)
        for chosen in combinations(range(n), size)
    ]
    return {**kept, "anyOf": tuples}


def for_documents(
    schema: dict[str, Any],
    documents: Sequence[Document],
    reserved: Collection[str] = (),
    *,
    refuse_uncited: bool = True,
) -> dict[str, Any]:
    """``schema`` (a version's decoding schema) narrowed to one request's ``documents`` (see the module's
    docstring); ``reserved``: the special tokens' texts of the decoding tokenizer, never pinned (:func:`pinnable`).
    ``refuse_uncited=False`` leaves out :func:`cite_or_refuse` (measured both ways: bench/bench_cite_or_refuse.py).
    ``schema`` is not changed."""
    k = len(check_count(list(documents), "documents"))  # past MAX_DOCUMENTS no grammar holds the rules: refused
    out = copy.deepcopy(schema)
    props = out["properties"]

    props["answer"]["properties"]["text"]["pattern"] = citation_pattern(k)
    if k and refuse_uncited:
        props["answer"] = cite_or_refuse(props["answer"], k)

    # a source or a result is named by its URL: a document without a valid one cannot be listed
    listed = [
        (number, values)
        for number, doc in enumerate(documents, 1)
        if "canonical_url" in (values := source_fields(doc, reserved))
    ]
    defs: dict[str, Any] = {}
    sources = props["sources"]
    options = [_pinned(sources["items"], values) for _, values in listed]
    props["sources"] = _one_per_document(sources, options, "source", defs)

    summary = props["retrieval_summary"]["properties"]
    results = summary["results"]
    pinned = [{"rank": number, "canonical_url": values["canonical_url"]} for number, values in listed]
    summary["results"] = _one_per_document(results, [_pinned(results["items"], p) for p in pinned], "result", defs)
    if defs:
        out["$defs"] = defs

    top_k = summary["top_k"]
    top_k["minimum"] = max(1, k, top_k.get("minimum", 0))
    top_k["maximum"] = max(top_k["minimum"], top_k.get("maximum", top_k["minimum"]))
    return out


def for_prompt(
    schema: dict[str, Any], user_text: str, reserved: Collection[str] = (), *, refuse_uncited: bool = True
) -> dict[str, Any]:
    """The request schema of a user message in the training prompts' format (its numbered document blocks)."""
    return for_documents(schema, parse_documents(user_text), reserved, refuse_uncited=refuse_uncited)


def schema_for(documents: Sequence[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    """The decoding schema of one request, for a server that takes a schema per request (vLLM ``response_format``,
    llama.cpp ``json_schema``): ``documents`` as the backend retrieved them (dicts with ``content`` and ``title``,
    ``url``, ``publisher``/``author``, ``year``, ``relevance_score``; see ``kwanzaa-hub ask --docs``), ``schema`` the
    version's ``answer.schema.json``. The documents are read through the prompt the model is shown."""
    return for_prompt(schema, user_message("-", from_dicts(documents)))
