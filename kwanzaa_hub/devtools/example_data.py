"""The bundled example dataset, generated from a handwritten fact table.

``kwanzaa-hub example-data --out data/raw`` writes ``kwanzaa_train.jsonl`` and ``kwanzaa_eval.jsonl``
in the team's message format and the ``kwanzaa.answer.v1`` contract. Output is deterministic (fixed
seed, sorted keys), so the files hash the same on every machine and ``data.dvc`` stays valid.

Coverage: grounded answers citing one document, answers citing several, partial answers (the documents
hold part of the answer), and refusals (nothing retrieved, or only unrelated documents retrieved).
Documents and answers here are our own short summaries of well-documented facts; URLs are placeholders
under example.org.

Why this module is long: about 400 of its lines are the fact table itself (documents and question/answer
pairs, one sentence a line); the generator around it is short. Splitting the table across files would only
scatter the facts that the answers cite.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from kwanzaa_hub.contract import prompt
from kwanzaa_hub.contract.documents import Document

SEED = 7
NAMESPACE = "kwanzaa_example_sources"


@dataclass(frozen=True)
class Doc:
    key: str
    title: str
    org: str
    year: int
    content_type: str
    content: str


# ---- the fact table ------------------------------------------------------------------------------
DOCS = {
    d.key: d
    for d in [
        Doc(
            "origin",
            "Kwanzaa: origins of the holiday",
            "Kwanzaa Example Library",
            1967,
            "article",
            "Kwanzaa was created in 1966 by Maulana Karenga, a professor of Africana studies, as an African American "
            "holiday celebrating family, community and culture. It was first celebrated from December 26, 1966 to January 1, 1967.",
        ),
        Doc(
            "dates",
            "The seven days of Kwanzaa",
            "Kwanzaa Example Library",
            1977,
            "reference",
            "Kwanzaa is observed for seven days, from December 26 through January 1. Each day is dedicated to one of "
            "the seven principles, the Nguzo Saba.",
        ),
        Doc(
            "name",
            "Where the name Kwanzaa comes from",
            "Kwanzaa Example Library",
            1988,
            "reference",
            "The name Kwanzaa comes from the Swahili phrase matunda ya kwanza, meaning first fruits. An extra letter a "
            "was added so that the name has seven letters.",
        ),
        Doc(
            "umoja",
            "Nguzo Saba: Umoja",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Umoja means Unity: to strive for and maintain unity in the family, community, nation and race. It is the "
            "principle of the first day, December 26.",
        ),
        Doc(
            "kujichagulia",
            "Nguzo Saba: Kujichagulia",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Kujichagulia means Self-Determination: to define, name, create for and speak for ourselves. It is the "
            "principle of the second day, December 27.",
        ),
        Doc(
            "ujima",
            "Nguzo Saba: Ujima",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Ujima means Collective Work and Responsibility: to build and maintain community together and solve "
            "problems together. It is the principle of the third day, December 28.",
        ),
        Doc(
            "ujamaa",
            "Nguzo Saba: Ujamaa",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Ujamaa means Cooperative Economics: to build and maintain our own stores, shops and businesses and to "
            "profit from them together. It is the principle of the fourth day, December 29.",
        ),
        Doc(
            "nia",
            "Nguzo Saba: Nia",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Nia means Purpose: to make collective vocation the building and development of community. It is the "
            "principle of the fifth day, December 30.",
        ),
        Doc(
            "kuumba",
            "Nguzo Saba: Kuumba",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Kuumba means Creativity: to do always as much as we can to leave our community more beautiful and "
            "beneficial than we inherited it. It is the principle of the sixth day, December 31.",
        ),
        Doc(
            "imani",
            "Nguzo Saba: Imani",
            "Kwanzaa Example Library",
            1978,
            "reference",
            "Imani means Faith: to believe with all our hearts in our people, our parents, our teachers and our "
            "leaders. It is the principle of the seventh day, January 1.",
        ),
        Doc(
            "symbols",
            "The seven symbols of Kwanzaa",
            "Kwanzaa Example Museum",
            1995,
            "exhibit_text",
            "Kwanzaa has seven basic symbols: mazao (the crops), mkeka (the mat), kinara (the candle holder), "
            "muhindi (the ear of corn), mishumaa saba (the seven candles), kikombe cha umoja (the unity cup) and "
            "zawadi (the gifts).",
        ),
        Doc(
            "candles",
            "Lighting the mishumaa saba",
            "Kwanzaa Example Museum",
            1995,
            "exhibit_text",
            "The seven candles are one black, three red and three green. The black candle stands in the center of "
            "the kinara and is lit first, on December 26; one more candle is lit on each following day.",
        ),
        Doc(
            "karamu",
            "The Karamu feast",
            "Kwanzaa Example Museum",
            1996,
            "exhibit_text",
            "The Karamu is a communal feast held on December 31, the sixth day of Kwanzaa, with food, music, "
            "dance and reflection.",
        ),
        Doc(
            "colors",
            "The colors of Kwanzaa",
            "Kwanzaa Example Museum",
            1996,
            "exhibit_text",
            "Kwanzaa uses the colors black, red and green: black for the people, red for their struggle, and green "
            "for the future and hope that come from their struggle.",
        ),
        Doc(
            "greeting",
            "Greetings during Kwanzaa",
            "Kwanzaa Example Library",
            1990,
            "reference",
            "The customary greeting during Kwanzaa is Habari gani, Swahili for What is the news. The answer is the "
            "principle of that day, for example Umoja on December 26.",
        ),
        Doc(
            "juneteenth",
            "Juneteenth in Galveston",
            "History Example Archive",
            1865,
            "article",
            "On June 19, 1865, Union troops arrived in Galveston, Texas, with the news that enslaved people there were "
            "free. The day is remembered as Juneteenth.",
        ),
        Doc(
            "harlem",
            "The Harlem Renaissance",
            "History Example Archive",
            1925,
            "article",
            "The Harlem Renaissance was a flowering of African American literature, music and art centered in Harlem, "
            "New York, during the 1920s.",
        ),
    ]
}
DISTRACTORS = ("juneteenth", "harlem")


@dataclass(frozen=True)
class QA:
    """A question family: phrasings, the documents that hold the answer, the answer with {doc} citations."""

    kind: str  # grounded | multi_source | partial | refusal
    queries: tuple[str, ...]
    docs: tuple[str, ...]
    answer: str
    missing: tuple[str, ...] = ()
    context: tuple[str, ...] = field(default=())  # retrieved but not cited (distractors)


QAS: tuple[QA, ...] = (
    QA(
        "grounded",
        ("Who created Kwanzaa and when?", "When was Kwanzaa first celebrated?"),
        ("origin",),
        "Kwanzaa was created in 1966 by Maulana Karenga {origin}. It was first celebrated from December 26, 1966 to January 1, 1967 {origin}.",
    ),
    QA(
        "grounded",
        ("How many days does Kwanzaa last?", "On which dates is Kwanzaa observed?"),
        ("dates",),
        "Kwanzaa lasts seven days, from December 26 through January 1 {dates}. Each day is dedicated to one of the seven principles, the Nguzo Saba {dates}.",
    ),
    QA(
        "grounded",
        ("What does the word Kwanzaa mean?", "Why is Kwanzaa spelled with seven letters?"),
        ("name",),
        "The name comes from the Swahili phrase matunda ya kwanza, meaning first fruits {name}. An extra letter a was added so that the name has seven letters {name}.",
    ),
    *(
        QA(
            "grounded",
            (f"What does the Kwanzaa principle {p} mean?", f"Which day of Kwanzaa honors {p}?"),
            (p.lower(),),
            f"{p} means {meaning} {{{p.lower()}}}. It is the principle of the {day} day, {date} {{{p.lower()}}}.",
            context=(DISTRACTORS[i % 2],),
        )
        for i, (p, meaning, day, date) in enumerate(
            [
                ("Umoja", "Unity", "first", "December 26"),
                ("Kujichagulia", "Self-Determination", "second", "December 27"),
                ("Ujima", "Collective Work and Responsibility", "third", "December 28"),
                ("Ujamaa", "Cooperative Economics", "fourth", "December 29"),
                ("Nia", "Purpose", "fifth", "December 30"),
                ("Kuumba", "Creativity", "sixth", "December 31"),
                ("Imani", "Faith", "seventh", "January 1"),
            ]
        )
    ),
    QA(
        "grounded",
        ("What are the seven symbols of Kwanzaa?", "What is the kinara in Kwanzaa?"),
        ("symbols",),
        "The seven symbols are mazao (the crops), mkeka (the mat), kinara (the candle holder), muhindi (the ear of corn), mishumaa saba (the seven candles), kikombe cha umoja (the unity cup) and zawadi (the gifts) {symbols}.",
    ),
    QA(
        "grounded",
        ("What colors are the Kwanzaa candles?", "Which Kwanzaa candle is lit first?"),
        ("candles",),
        "The seven candles are one black, three red and three green {candles}. The black candle in the center of the kinara is lit first, on December 26 {candles}.",
    ),
    QA(
        "grounded",
        ("What is the Karamu?", "When is the Karamu feast held?"),
        ("karamu",),
        "The Karamu is a communal feast held on December 31, the sixth day of Kwanzaa {karamu}.",
    ),
    QA(
        "grounded",
        ("What do the colors of Kwanzaa stand for?",),
        ("colors",),
        "Black stands for the people, red for their struggle, and green for the future and hope that come from their struggle {colors}.",
    ),
    QA(
        "grounded",
        ("How do people greet each other during Kwanzaa?", "What does Habari gani mean?"),
        ("greeting",),
        "The customary greeting is Habari gani, Swahili for What is the news {greeting}. The answer is the principle of that day, for example Umoja on December 26 {greeting}.",
    ),
    QA(
        "multi_source",
        (
            "Which candle is lit on the first day of Kwanzaa, and what principle does that day honor?",
            "What is lit and what is honored on December 26 during Kwanzaa?",
        ),
        ("candles", "umoja"),
        "On December 26 the black candle in the center of the kinara is lit first {candles}. That first day honors Umoja, which means Unity {umoja}.",
    ),
    QA(
        "multi_source",
        ("Who created Kwanzaa and what are its dates?", "When did Kwanzaa begin and how long does it last?"),
        ("origin", "dates"),
        "Maulana Karenga created Kwanzaa in 1966 {origin}. It is observed for seven days, from December 26 through January 1 {dates}.",
    ),
    QA(
        "multi_source",
        ("Which principle is celebrated on the day of the Karamu feast?", "What principle goes with the Karamu?"),
        ("karamu", "kuumba"),
        "The Karamu is held on December 31 {karamu}. That day honors Kuumba, which means Creativity {kuumba}.",
    ),
    QA(
        "multi_source",
        ("What do the Kwanzaa candles look like and what do their colors mean?",),
        ("candles", "colors"),
        "There are one black, three red and three green candles {candles}. Black stands for the people, red for their struggle and green for the future and hope {colors}.",
    ),
    QA(
        "multi_source",
        (
            "Which principles are honored on the first and last days of Kwanzaa?",
            "What are the principles of December 26 and January 1?",
        ),
        ("umoja", "imani"),
        "The first day, December 26, honors Umoja, or Unity {umoja}. The last day, January 1, honors Imani, or Faith {imani}.",
    ),
    QA(
        "multi_source",
        ("What does Kwanzaa mean and how many principles does it have?",),
        ("name", "dates"),
        "Kwanzaa comes from the Swahili phrase matunda ya kwanza, meaning first fruits {name}. It has seven principles, the Nguzo Saba, one for each day {dates}.",
    ),
    QA(
        "partial",
        (
            "What does Nia mean, and how many families celebrate it today?",
            "What is Nia and how widely is it observed now?",
        ),
        ("nia",),
        "Nia means Purpose, and it is the principle of December 30 {nia}. The retrieved documents give no figures on how many families celebrate Kwanzaa today.",
        missing=("Current numbers of families who celebrate Kwanzaa",),
    ),
    QA(
        "partial",
        ("What is the unity cup and who designed the first one?", "Who made the first kikombe cha umoja?"),
        ("symbols",),
        "The kikombe cha umoja, the unity cup, is one of the seven symbols of Kwanzaa {symbols}. The retrieved documents do not say who designed the first one.",
        missing=("Who designed the first unity cup",),
    ),
    QA(
        "partial",
        ("When was Kwanzaa created and how was it received in its first year?",),
        ("origin",),
        "Kwanzaa was created in 1966 and first celebrated from December 26, 1966 to January 1, 1967 {origin}. The documents do not describe how it was received in that first year.",
        missing=("Public reception of the first Kwanzaa in 1966",),
    ),
    QA(
        "partial",
        (
            "What food is served at the Karamu and what does it cost to host one?",
            "Which dishes are eaten at the Karamu feast and how expensive is it?",
        ),
        ("karamu",),
        "The Karamu is a communal feast on December 31 with food, music, dance and reflection {karamu}. The retrieved documents list no dishes or costs.",
        missing=("Typical dishes served at a Karamu", "Cost of hosting a Karamu"),
    ),
    QA(
        "partial",
        ("How does Ujamaa apply to business, and which companies follow it?",),
        ("ujamaa",),
        "Ujamaa, Cooperative Economics, means building and maintaining our own stores, shops and businesses and profiting from them together {ujamaa}. The documents name no companies.",
        missing=("Examples of businesses that follow Ujamaa",),
    ),
    QA(
        "refusal",
        ("How many people celebrated Kwanzaa in Chicago in 2021?", "What was Kwanzaa attendance in Chicago last year?"),
        (),
        "I cannot answer this from the retrieved documents: they hold no attendance figures for Chicago. Try city cultural affairs offices or local news archives.",
        missing=("Attendance figures for Kwanzaa events in Chicago",),
    ),
    QA(
        "refusal",
        ("Which Kwanzaa event will draw the biggest crowd next year?",),
        (),
        "I cannot predict future events, and no retrieved document covers them. I can explain the principles and traditions of Kwanzaa instead.",
        missing=("Forecasts of future events are outside the corpus",),
    ),
    QA(
        "refusal",
        (
            "What did the mayor of Atlanta say about Kwanzaa in 2023?",
            "Did Atlanta officials comment on Kwanzaa in 2023?",
        ),
        (),
        "No retrieved document records statements by the mayor of Atlanta, so I cannot answer. Local news archives for 2023 would be the place to look.",
        missing=("Statements by Atlanta officials in 2023",),
    ),
    QA(
        "refusal",
        ("How much money do Kwanzaa gift shops make each year?", "What are annual sales of Kwanzaa products?"),
        (),
        "I cannot answer: the retrieved documents contain no sales or revenue data. Market research reports would be a better source.",
        missing=("Sales and revenue data for Kwanzaa products",),
    ),
    QA(
        "refusal",
        ("What was the population of Galveston in 1865?",),
        (),
        "The retrieved document describes Juneteenth in Galveston but gives no population figure, so I cannot answer this question.",
        missing=("Population of Galveston in 1865",),
        context=("juneteenth",),
    ),
    QA(
        "refusal",
        ("Which Harlem Renaissance poet wrote about Kwanzaa?",),
        (),
        "I cannot answer this from the retrieved documents. The document describes the Harlem Renaissance of the 1920s, and Kwanzaa was created only in 1966.",
        missing=("Poems about Kwanzaa",),
        context=("harlem",),
    ),
    QA(
        "refusal",
        ("Hi, can you tell me a joke?",),
        (),
        "I answer questions about Kwanzaa and African American history from retrieved documents, and no document was retrieved for this request. Ask me about Kwanzaa's principles, symbols or history.",
        missing=("The request is outside the corpus",),
    ),
)


def _url(doc: Doc) -> str:
    return f"https://example.org/kwanzaa/{doc.key}"


def _user_message(retrieved: list[tuple[Doc, float]], query: str) -> str:
    return prompt.user_message(
        query,
        [Document(d.title, d.content, _url(d), d.org, d.year, score) for d, score in retrieved],
    )


def _sample(qa: QA, query: str, persona: str, rng: random.Random) -> dict:
    relevant = [DOCS[k] for k in qa.docs]
    extra = [DOCS[k] for k in qa.context]
    retrieved = relevant + extra
    rng.shuffle(retrieved)
    scores = {d.key: round(rng.uniform(0.82, 0.95) if d in relevant else rng.uniform(0.35, 0.55), 2) for d in retrieved}
    ranked = [(d, scores[d.key]) for d in retrieved]
    number = {d.key: i for i, d in enumerate(retrieved, 1)}
    text = qa.answer.format(**{k: f"[{n}]" for k, n in number.items()})
    system, tone = prompt.PERSONAS[persona]
    completeness = {"refusal": "insufficient_data", "partial": "partial"}.get(qa.kind, "complete")
    cited = [d for d in retrieved if f"[{number[d.key]}]" in text]
    answer = {
        "version": "kwanzaa.answer.v1",
        "persona": persona,
        "model_mode": "base_adapter_rag",
        "toggles": {"require_citations": True, "primary_sources_only": False, "creative_mode": False},
        "answer": {
            "text": text,
            "confidence": {"complete": 0.9, "partial": 0.6}.get(completeness, 0.2),
            "tone": tone,
            "completeness": completeness,
        },
        "sources": [
            {
                "citation_label": d.title,
                "canonical_url": _url(d),
                "source_org": d.org,
                "year": d.year,
                "content_type": d.content_type,
                "license": "CC BY 4.0",
                "namespace": NAMESPACE,
                "doc_id": d.key,
                "chunk_id": f"{d.key}::0",
                "relevance_score": scores[d.key],
            }
            for d in cited
        ],
        "retrieval_summary": {
            "query": query,
            "top_k": 5,
            "namespaces": [NAMESPACE],
            "results": [
                {
                    "rank": i,
                    "score": s,
                    "citation_label": d.title,
                    "canonical_url": _url(d),
                    "doc_id": d.key,
                    "chunk_id": f"{d.key}::0",
                    "namespace": NAMESPACE,
                }
                for i, (d, s) in enumerate(ranked, 1)
            ],
        },
        "unknowns": {"unsupported_claims": [], "missing_context": list(qa.missing), "clarifying_questions": []},
        "integrity": {
            "citation_required": True,
            "citations_provided": bool(cited),
            "retrieval_confidence": "high" if cited else ("low" if retrieved else "none"),
            "fallback_behavior": "refusal" if completeness == "insufficient_data" else "not_needed",
        },
    }
    return {
        "messages": [
            {"role": "system", "content": system + prompt.RULES},
            {"role": "user", "content": _user_message(ranked, query)},
            {"role": "assistant", "content": json.dumps(answer, ensure_ascii=False)},
        ]
    }


def build() -> tuple[list[dict], list[dict]]:
    """(train, eval) samples. A question family's first phrasing trains (with two personas); its second
    phrasing, when it has one, goes to eval, so eval asks questions the model never saw verbatim."""
    rng = random.Random(SEED)
    personas = list(prompt.PERSONAS)
    train: list[dict] = []
    held: list[dict] = []
    for i, qa in enumerate(QAS):
        for j, query in enumerate(qa.queries):
            to_eval = j == 1
            for k in range(1 if to_eval else 2):
                persona = personas[(i + j + k) % len(personas)]
                (held if to_eval else train).append(_sample(qa, query, persona, rng))
    return train, held


def write(out_dir: str | Path) -> tuple[Path, Path]:
    """Write the two JSONL files; returns their paths. A file already there is left alone unless it holds exactly
    these bytes (the team's own data in ``data/raw`` is never replaced by the example)."""
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.fs.atomic import atomic_write_text
    from kwanzaa_hub.fs.ownership import judged

    out = judged("example-data --out", out_dir)  # '..' refused, parents resolved: the folder checked is written
    train, held = build()
    paths = (out / "kwanzaa_train.jsonl", out / "kwanzaa_eval.jsonl")
    texts = ["".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) for rows in (train, held)]
    for path, text in zip(paths, texts, strict=True):
        if path.exists() and path.read_bytes() != text.encode("utf-8"):
            raise InputError(
                f"{path} exists and is not the example data; nothing was written. Use --out with another folder."
            )
    for path, text in zip(paths, texts, strict=True):
        atomic_write_text(path, text)
    return paths


def corpus() -> list[str]:
    """All example texts, for training the tiny test tokenizer."""
    train, held = build()
    return [m["content"] for row in train + held for m in row["messages"]]
