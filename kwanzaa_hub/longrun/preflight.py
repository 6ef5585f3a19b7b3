"""Checks that stop a long run before it starts, shared by ``kwanzaa-hub preflight`` and the train stage.

1. The base model: a Hub id must be readable with this token (a gated model's license accepted).
2. The hardware: a base model over :data:`CPU_LIMIT` parameters on a machine without a GPU would train for
   hours; that stops here (with how to switch a Colab runtime to a T4) unless ``train.allow_cpu`` says it is meant.
3. The adapter repo, when ``hub.repo_id`` is set: a token with write access to its namespace.
"""

from __future__ import annotations

import json
from pathlib import Path

from kwanzaa_hub.config.base_model import base_ref
from kwanzaa_hub.config.params import Params
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.hub import client as hub
from kwanzaa_hub.runtime import hardware, models

CPU_LIMIT = 500_000_000  # parameters: above this, a CPU run of the default recipe takes hours


def planned_tokens(params: Params) -> int | None:
    """Train tokens of the whole run, from the data report when the data stage has run (else None)."""
    report = Path(params.data.report)
    if not report.is_file():
        return None
    try:
        per_epoch = json.loads(report.read_text()).get("train", {}).get("tokens_total")
    except (ValueError, AttributeError):  # a damaged report: the estimate waits for the data stage
        return None
    return int(per_epoch * params.train.epochs) if per_epoch and params.train.max_steps == -1 else per_epoch


def check_hardware(
    params: Params, plan: hardware.TrainPlan, facts: hardware.HardwareFacts, n_params: int, tokens: int | None
) -> str:
    """One line on what the run will take here; an ``InputError`` for a large model on a CPU (unless allowed)."""
    size = hardware.human_count(n_params)
    line = f"{params.model.base}: {size} parameters on {plan.hardware} ({plan.device}, {plan.precision})"
    if tokens:
        took = hardware.human_duration(hardware.estimate_seconds(plan, facts.capability, n_params, tokens))
        line += f"; training time {took}"
    if not params.train.allow_cpu and plan.device == "cpu" and n_params > CPU_LIMIT:
        raise InputError(
            f"{line}: this runtime has no GPU. In Colab: Runtime > Change runtime type > T4 GPU, then Runtime > "
            "Run all. To train on the CPU anyway, set train.allow_cpu: true (`kwanzaa-hub set train.allow_cpu=true`)."
        )
    return line


def check_all(
    params: Params,
    facts: hardware.HardwareFacts | None = None,
    *,
    repo_id: str | None = None,
    tokens: int | None = None,
) -> list[str]:
    """Every check, in the order a failure is cheapest to fix; returns what each found. ``repo_id`` defaults
    to ``hub.repo_id`` (empty: no repo check); ``tokens`` (the run's train tokens) gives a time estimate."""
    found = []
    models.check_access(params.model.base, params.model.revision)
    if base_ref(params.model.base).kind == "hub":
        found.append(f"base model {params.model.base}: this token can read it")
    facts = facts or hardware.detect()
    t = params.train
    plan = hardware.plan(facts, precision=t.precision, quantize=t.quantization.enabled, kernels=t.kernels)
    n_params = models.parameter_count(params.model.base, params.model.revision)
    found.append(check_hardware(params, plan, facts, n_params, tokens))
    repo = params.hub.repo_id if repo_id is None else repo_id
    if repo:
        who = hub.preflight(repo)
        found.append(f"Hub token of {who['user']} ({who['role']}) can write to {who['namespace']}/")
    return found
