"""Every metric name the project reports, its direction and whether it is a headline: defined here once.

The CLI tables, the model card's model-index, ``kwanzaa-hub versions`` / ``diff``, the eval plot and the
key order of ``metrics.json`` all read this table, so they cannot disagree. Throughput is not here: it is
a fact about the machine, not the model, and lives in the eval report (``reports/eval.json``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One quality metric: ``higher_is_better`` says which way is an improvement; ``headline`` metrics lead
    every table and ``dvc exp show``."""

    name: str
    higher_is_better: bool
    headline: bool
    meaning: str


QUALITY = (
    MetricSpec("format_compliance", True, True, "valid JSON that validates against kwanzaa.answer.v1"),
    MetricSpec("citation_f1", True, True, "harmonic mean of citation precision and recall"),
    MetricSpec("grounded_sentence_rate", True, True, "answer sentences supported by a retrieved document"),
    MetricSpec(
        "refusal_balanced_accuracy",
        True,
        True,
        "mean of the refusal and the answer accuracy (0.5 for a model that never, or always, refuses)",
    ),
    MetricSpec("truncated_rate", False, True, "generations cut off by eval.max_new_tokens"),
    MetricSpec("answer_repetition_rate", False, True, "answer texts that fall into a repeated loop of words"),
    MetricSpec("json_valid_rate", True, False, "generations that are valid JSON"),
    MetricSpec("team_schema_valid", True, False, "generations that pass the team's answer_json.schema.json"),
    MetricSpec(
        "budget_closed_rate",
        False,
        False,
        "constrained generations closed early to fit eval.max_new_tokens (whole JSON, text cut short)",
    ),
    MetricSpec("citation_precision", True, False, "cited [n] that name a retrieved document"),
    MetricSpec("citation_recall", True, False, "reference citations the generation also makes"),
    MetricSpec("source_url_valid", True, False, "generated sources whose URL is a retrieved document's"),
    MetricSpec("unsupported_number_rate", False, False, "answers stating a number no document holds"),
    MetricSpec("refusal_recall", True, False, "refused among prompts whose reference refuses"),
    MetricSpec("false_refusal_rate", False, False, "refused among answerable prompts"),
    MetricSpec("refusal_f1", True, False, "F1 over the refusal class"),
    MetricSpec("refusal_accuracy", True, False, "agreement with the reference on refusing (majority-class prone)"),
    MetricSpec("repetition_rate", False, False, "generations that fall into a repeated loop of words"),
    MetricSpec("placeholder_rate", False, False, "answer texts that are an authoring template, not an answer"),
)
BY_NAME = {m.name: m for m in QUALITY}
HEADLINE = tuple(m.name for m in QUALITY if m.headline)
MODELS = ("adapter", "base")
DECODINGS = ("free", "constrained")


def run_name(model: str, decoding: str) -> str:
    """``adapter`` / ``adapter_constrained``: the key prefix of one model under one decoding, ``free`` (what
    training taught) or ``constrained`` (held to the decoding schema, what a server enforcing it returns)."""
    return model if decoding == "free" else f"{model}_constrained"


#: Every run of the eval, in reading order: adapter, adapter_constrained, base, base_constrained.
RUNS = tuple(run_name(m, d) for m in MODELS for d in DECODINGS)


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics.json``: the headline metrics of every run over the whole eval split (at most
    ``len(RUNS) x len(HEADLINE)`` keys), in reading order. The rest goes to the eval's details file."""
    return ordered({k: v for k, v in metrics.items() if k.count(".") == 1 and k.split(".")[1] in HEADLINE})


def spec(name: str) -> MetricSpec:
    """The spec of ``name`` (a bare metric, ``adapter.<m>`` or ``adapter.<category>.<m>``)."""
    return BY_NAME[name.rsplit(".", 1)[-1]]


def change_word(name: str, delta: float) -> str:
    """``better`` / ``worse`` / ``same`` for a change of ``delta`` in metric ``name``."""
    if abs(delta) < 1e-12:
        return "same"
    return "better" if (delta > 0) == spec(name).higher_is_better else "worse"


def ordered(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics.json`` in reading order: adapter then base headline metrics, then the other whole-split
    metrics, then per-category ones; within each, the order of :data:`QUALITY`."""
    rank = {m.name: i for i, m in enumerate(QUALITY)}

    def key(k: str) -> tuple:
        parts = k.split(".")
        model = RUNS.index(parts[0]) if parts[0] in RUNS else len(RUNS)
        name = parts[-1]
        whole = len(parts) == 2
        return (
            not whole,
            not (whole and name in HEADLINE),
            parts[1] if not whole else "",
            model,
            rank.get(name, len(rank)),
            k,
        )

    return {k: metrics[k] for k in sorted(metrics, key=key)}


def whole_split(metrics: dict[str, float], model: str = "adapter") -> dict[str, float]:
    """``{metric: value}`` of one model over the whole eval split, in :data:`QUALITY` order."""
    return {m.name: metrics[f"{model}.{m.name}"] for m in QUALITY if f"{model}.{m.name}" in metrics}
