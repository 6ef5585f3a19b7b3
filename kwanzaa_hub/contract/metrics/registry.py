"""The views' helpers over the metric specs: run names, the key order of ``metrics.json``, change words.

Every metric's name, direction, headline flag and meaning are defined once, in
:data:`kwanzaa_hub.contract.metrics.specs.SPECS`; this module only derives from it. The CLI tables, the model card's
model-index, ``kwanzaa-hub versions`` / ``diff``, the eval plot and the key order of ``metrics.json`` all read
that table, so they cannot disagree. Throughput is not here: it is
a fact about the machine, not the model, and lives in the eval report (``reports/eval.json``).
"""

from __future__ import annotations

from kwanzaa_hub.contract.metrics import specs

#: Every metric, in reading order, headline first: :data:`specs.SPECS` itself (names, directions, headline and
#: meanings are defined there once).
QUALITY = specs.SPECS
BY_NAME = specs.BY_NAME
HEADLINE = specs.HEADLINE
#: The key prefix of the best floor's value in ``metrics.json`` (``floor.citation_f1``): the best of the trivial
#: answerers (:mod:`kwanzaa_hub.contract.floors`) on each headline metric.
FLOOR = "floor"
MODELS = ("adapter", "base")
DECODINGS = ("free", "constrained")


def run_name(model: str, decoding: str) -> str:
    """``adapter`` / ``adapter_constrained``: the key prefix of one model under one decoding, ``free`` (what
    training taught) or ``constrained`` (held to the decoding schema, what a server enforcing it returns)."""
    return model if decoding == "free" else f"{model}_constrained"


#: Every run of the eval, in reading order: adapter, adapter_constrained, base, base_constrained.
RUNS = tuple(run_name(m, d) for m in MODELS for d in DECODINGS)
#: The run a server returns (the adapter held to the request schema); the free adapter stands in where it did not
#: run (:func:`served_run`). The one place this is decided: the eval's verdicts, ``diff`` and the card read it here.
SERVED = run_name("adapter", "constrained")
FREE_ADAPTER = run_name("adapter", "free")


def served_run(runs: list[str]) -> str | None:
    """The run a server returns: the adapter under the request schema when it ran, else the free adapter."""
    return next((name for name in (SERVED, FREE_ADAPTER) if name in runs), None)


def headline(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics.json``: the headline metrics of every run and of the best floor (``floor.<metric>``) over the whole
    plain split (at most ``(len(RUNS) + 1) x len(HEADLINE)`` keys), in reading order. The rest goes to the eval's
    report and details file."""
    return ordered({k: v for k, v in metrics.items() if k.count(".") == 1 and k.split(".")[1] in HEADLINE})


def spec(name: str) -> specs.Metric:
    """The spec of ``name`` (a bare metric, ``adapter.<m>`` or ``adapter.<category>.<m>``)."""
    return BY_NAME[name.rsplit(".", 1)[-1]]


def change_word(name: str, delta: float, higher_is_better: bool | None = None) -> str:
    """``better`` / ``worse`` / ``same`` for a change of ``delta`` in metric ``name`` (its direction from its spec
    unless ``higher_is_better`` gives it)."""
    if abs(delta) < 1e-12:
        return "same"
    up = spec(name).higher_is_better if higher_is_better is None else higher_is_better
    return "better" if (delta > 0) == up else "worse"


def ordered(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics.json`` in reading order: adapter then base headline metrics, then the other whole-split
    metrics, then per-category ones; within each, the order of :data:`QUALITY`."""
    rank = {m.name: i for i, m in enumerate(QUALITY)}

    def key(k: str) -> tuple:
        parts = k.split(".")
        model = RUNS.index(parts[0]) if parts[0] in RUNS else len(RUNS) + (parts[0] != FLOOR)
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
