"""The model card: ``huggingface_hub`` ModelCardData + EvalResult metadata, rendered from the package template.

Every value reaches the template as a variable, so text from the data or params is never itself
evaluated as a template. :func:`check_card` re-parses the rendered card offline (metadata, model-index)
so a broken card fails here rather than on the Hub.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from kwanzaa_hub.config.base_model import base_ref
from kwanzaa_hub.config.params import Params
from kwanzaa_hub.contract.metrics import paired, registry, rows
from kwanzaa_hub.errors import KwanzaaError
from kwanzaa_hub.fs.ownership import CARD_SIGNATURE, without_machine_paths
from kwanzaa_hub.hub import records
from kwanzaa_hub.hub.records import Results

TEMPLATE = Path(__file__).resolve().parent / "templates" / "model_card.md"
LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "huggingface_hub", "dvc")
DATASET = {"type": "kwanzaa-answer-v1", "name": "kwanzaa_hub eval split"}


class CardError(KwanzaaError):
    """The rendered card does not parse back into valid metadata."""


@dataclass
class CardInputs:
    """Everything the card says, read from the pipeline's outputs."""

    params: Params
    metrics: dict[str, float]
    data_report: dict[str, Any]
    train_report: dict[str, Any]
    eval_report: dict[str, Any] = field(default_factory=dict)
    adapter_sha256: str = ""
    data_md5: str = ""
    git_commit: str = ""
    lock: dict[str, str] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    records: list[dict[str, Any]] | None = None  # this version's per-example records (eval/predictions.jsonl)
    previous: Results | None = None  # the previous version's verified results; None for the first version
    #: why newer earlier versions were skipped (they do not verify): the card says so before the comparison
    skipped: str = ""


def project_url(cwd: str | Path = ".") -> str:
    """The web address of the project the card was made in: its git remote ``origin`` as an https URL, with no
    user name or token (a clone URL may hold one); "" when there is none (the card then names kwanzaa_hub
    unlinked)."""
    import re
    import subprocess
    from urllib.parse import urlsplit

    try:
        found = subprocess.run(
            ["git", "config", "--get", "remote.origin.url"], cwd=cwd, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    scp = re.fullmatch(r"[\w.-]+@([\w.-]+):(.+)", found)  # git@github.com:org/repo.git
    url = urlsplit(f"https://{scp.group(1)}/{scp.group(2)}" if scp else found)
    path = url.path.strip("/").removesuffix(".git")
    if url.scheme not in ("https", "http", "ssh", "git") or not url.hostname or not path:
        return ""
    return f"https://{url.hostname}/{path}"  # the host alone (no user, password, port) and the path: no query


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _read_records(path: Path) -> list[dict[str, Any]] | None:
    return paired.parse_records(path.read_text(encoding="utf-8"), str(path)) if path.is_file() else None


def provenance(root: Path = Path("."), tracked: tuple[str, ...] = ()) -> dict[str, Any]:
    """Git commit (``+dirty`` when the tree has changes), data.dvc md5, dvc.lock output hashes, library versions."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += "+dirty"
    data_md5 = ""
    if (root / "data.dvc").is_file():
        outs = (yaml.safe_load((root / "data.dvc").read_text()) or {}).get("outs", [])
        data_md5 = outs[0].get("md5", "") if outs else ""
    lock: dict[str, str] = {}
    if (root / "dvc.lock").is_file():
        stages = (yaml.safe_load((root / "dvc.lock").read_text()) or {}).get("stages", {})
        for stage in stages.values():
            for entry in [*stage.get("deps", []), *stage.get("outs", [])]:
                if entry["path"] in tracked and "md5" in entry:
                    lock[entry["path"]] = entry["md5"]
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return {
        "git_commit": commit or "unknown (not a git checkout)",
        "data_md5": data_md5,
        "lock": dict(sorted(lock.items())),
        "libraries": libs,
    }


def gather(params: Params, adapter_sha256: str = "", root: Path = Path(".")) -> CardInputs:
    tracked = (
        params.data.prepared_dir,
        params.train.output_dir,
        params.eval.predictions_file,
        str(Path(params.data.train_file).parent),
        params.data.train_file,
        params.data.eval_file,
    )
    return CardInputs(
        params=params,
        metrics=_read_json(root / params.eval.metrics_file),
        data_report=_read_json(root / params.data.report),
        train_report=_read_json(root / params.train.report),
        eval_report=_read_json(root / params.eval.report),
        adapter_sha256=adapter_sha256,
        records=_read_records(root / params.eval.predictions_file),
        **provenance(root, tracked),
    )


def dataset_line(inputs: CardInputs) -> str:
    """Which data trained this adapter: the ``data.dvc`` hash, else the data stage's input hashes in dvc.lock."""
    d = inputs.params.data
    folder = str(Path(d.train_file).parent)
    if inputs.data_md5:
        return f"`{folder}` versioned by DVC (`data.dvc`), md5 `{inputs.data_md5}`"
    files = [f"`{f}` md5 `{inputs.lock[f]}`" for f in (d.train_file, d.eval_file) if f in inputs.lock]
    if files:
        return ", ".join(files) + " (from `dvc.lock`)"
    return f"`{folder}`, hash unknown (no `data.dvc`, no `dvc.lock` entry)"


def training_prompts_line(data_report: dict[str, Any]) -> str:
    """What the training prompts held (issue 40): the documents as written, or with ``data.distractors`` documents of
    other training samples added, the documents per prompt before and after, and the answers renumbered."""
    d = data_report.get("distractors") or {}
    if not d.get("per_prompt"):
        return "the retrieved documents as written (`data.distractors: 0`)"
    per = d.get("documents_per_prompt", {})
    before, after = per.get("as_written", {}).get("mean", "?"), per.get("trained", {}).get("mean", "?")
    return (
        f"{d['per_prompt']} distractor documents of other training samples added to each (`data.distractors`), all "
        f"shuffled with a fixed seed: {before} -> {after} documents per prompt, {d.get('added', '?')} added; "
        f"{d.get('answers_renumbered', '?')} answers renumbered to match (their words unchanged); "
        f"{d.get('pool_documents_in_eval', '?')} of the {d.get('pool_documents', '?')} pool documents also appear "
        "in eval prompts"
    )


def base_display(base: str) -> str:
    """How the card names the base: the Hub id, or a local folder's / GGUF file's name (not a machine's path)."""
    ref = base_ref(base)
    return ref.hub_id or f"`{ref.name}` (a {ref.describe()})"


def base_weights(train_report: dict[str, Any]) -> str:
    """Which weights the adapter was trained on, as the train report recorded them: the Hub commit of the base,
    or the sha256 of a local folder or file."""
    b = train_report.get("base_model")
    if not isinstance(b, dict):
        return "not recorded (the train report names no base model)"
    if b.get("commit"):
        return f"commit `{b['commit']}` of {b.get('name', '?')} (revision `{b.get('revision', '?')}`)"
    kind = {"gguf": "GGUF file"}.get(b.get("kind", ""), "folder")  # kind "local" is a folder: not "local local"
    return f"sha256 `{b.get('sha256', '?')}` of the local {kind} {b.get('name', '?')}"


def base_load_args(base: str) -> str:
    """The arguments of ``from_pretrained`` for the base model in the card's load code. A local base is named,
    never located: the card holds no machine paths."""
    ref = base_ref(base)
    if ref.hub_id:
        return json.dumps(ref.hub_id)
    if ref.kind == "gguf":
        return f'"path/to/folder/of/the/file", gguf_file={json.dumps(ref.name)}'
    return json.dumps(f"path/to/{ref.name}")


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [kv for k, v in data.items() for kv in _flatten(v, f"{prefix}{k}.")]
    return [(prefix[:-1], data)]


def card_runs(metrics: dict[str, float]) -> tuple[str, str]:
    """(the adapter's run the card shows, the base model's run under the same decoding): the free adapter when it
    ran, else the served run (``eval.decoding: constrained``)."""
    free = any(k.startswith(f"{registry.FREE_ADAPTER}.") for k in metrics)
    return (registry.FREE_ADAPTER, "base") if free else (registry.SERVED, registry.run_name("base", "constrained"))


def card_metrics(metrics: dict[str, float]) -> list[str]:
    """The quality metrics of the adapter's run (:func:`card_runs`) over the whole eval split, in the registry's order
    (headline first)."""
    return list(registry.whole_split(metrics, card_runs(metrics)[0]))


def floor_verdicts(inputs: CardInputs) -> list[str]:
    """The served run against the best floor, in words: from the records when the card has them (the rows are the
    source of every figure), else as the eval report wrote them."""
    if inputs.records:
        plain = [r for r in inputs.records if r.get("split", "plain") == "plain"]
        return rows.floor_verdicts(plain, sorted({run for r in plain for run in r.get("runs", {})}))
    return (inputs.eval_report.get("floors") or {}).get("verdicts", [])


def training_time(train_report: dict[str, Any]) -> str:
    """How the adapter's steps were trained, in words: a resumed or restored run's runtime is not the whole run's."""
    t = train_report
    steps, runtime, resumed = t.get("optimizer_steps", "?"), t.get("runtime_s"), t.get("resumed_from_step") or 0
    if t.get("restored"):
        return f"{steps} optimizer steps, restored from the finished run's last checkpoint (no training time here)"
    if runtime is None:
        return f"{steps} optimizer steps"
    if resumed:
        return (
            f"{steps} optimizer steps, resumed from the checkpoint of step {resumed}: "
            f"steps {resumed + 1}-{steps} in {runtime} s (the earlier steps' time is not recorded)"
        )
    return f"{steps} optimizer steps in {runtime} s"


def build_card(inputs: CardInputs) -> Any:
    """A ``ModelCard`` with metadata (base model, peft, license, model-index) and the body from the template."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    p, m = inputs.params, inputs.metrics
    names = card_metrics(m)
    shown, base_run = card_runs(m)
    repo_id = p.hub.repo_id or "your-namespace/kwanzaa-adapter"
    base_id = base_ref(p.model.base).hub_id
    eval_results = [
        EvalResult(
            task_type="text-generation",
            task_name="Grounded answers in kwanzaa.answer.v1",
            dataset_type=DATASET["type"],
            dataset_name=DATASET["name"],
            dataset_split="eval",
            metric_type=name,
            metric_name=name,
            metric_value=float(m[f"{shown}.{name}"]),
        )
        for name in names
    ]
    data = ModelCardData(
        model_name=repo_id.split("/")[1],
        base_model=base_id,
        library_name="peft",
        pipeline_tag="text-generation",
        license=p.hub.license,
        tags=["lora", "qlora", "peft", "trl", "kwanzaa", "rag", "json", "dvc"],
        eval_results=eval_results or None,
    )
    categories = sorted(
        {c for split in ("train", "eval") for c in inputs.data_report.get(split, {}).get("categories", {})}
    )
    split_rows = [
        {
            "split": s,
            "samples": inputs.data_report[s].get("samples", ""),
            "p50": inputs.data_report[s].get("tokens", {}).get("p50", ""),
            "counts": [inputs.data_report[s].get("categories", {}).get(c, 0) for c in categories],
        }
        for s in ("train", "eval")
        if s in inputs.data_report
    ]
    metric_rows = []
    base_vs_adapter = (
        paired.compare(inputs.records, inputs.records, old_run=base_run, new_run=shown) if inputs.records else None
    )
    for name in names:
        a, b, floor = m[f"{shown}.{name}"], m.get(f"{base_run}.{name}"), m.get(f"{registry.FLOOR}.{name}")
        metric_rows.append(
            {
                "name": ("**" + name + "**") if registry.spec(name).headline else name,
                "adapter": f"{a:.3f}",
                "base": "—" if b is None else f"{b:.3f}",
                "change": "—" if b is None else f"{a - b:+.3f} ({paired.change_label(name, a - b, base_vs_adapter)})",
                "constrained": "—" if f"{registry.SERVED}.{name}" not in m else f"{m[f'{registry.SERVED}.{name}']:.3f}",
                "floor": "" if floor is None else f"{floor:.3f}",
            }
        )
    t = inputs.train_report
    params_dump = without_machine_paths(p.model_dump(mode="json"))
    param_rows = [
        (k, json.dumps(v) if isinstance(v, (list, dict)) else v)
        for k, v in _flatten(
            {"model": params_dump["model"], "train": params_dump["train"], "data.max_length": p.data.max_length}
        )
    ]
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        title=f"{repo_id} ({p.hub.version})",
        base_model=base_display(p.model.base),
        base_load=base_load_args(p.model.base),
        base_weights=base_weights(inputs.train_report),
        repo_id=repo_id,
        version=p.hub.version,
        method="QLoRA (4-bit base)" if p.train.quantization.enabled else "LoRA",
        project_url=project_url(),
        train_samples=inputs.data_report.get("train", {}).get("samples", "?"),
        eval_samples=inputs.data_report.get("eval", {}).get("samples", "?"),
        dataset=dataset_line(inputs),
        training_prompts=training_prompts_line(inputs.data_report),
        categories=categories,
        split_rows=split_rows,
        hardware=f"{t.get('hw_hardware', '?')} ({t.get('hw_device', '?')})",
        precision=t.get("hw_precision", "?"),
        quantization="4-bit " + p.train.quantization.quant_type if t.get("hw_quantize") else "no quantization",
        training=training_time(t),
        train_loss=t.get("train_loss", "?"),
        eval_loss=t.get("eval_loss", "?"),
        trainable_params=t.get("trainable_params", "?"),
        total_params=t.get("total_params", "?"),
        param_rows=param_rows,
        metric_rows=metric_rows,
        tested=paired.LEVEL if base_vs_adapter else "",
        since=changes_since(inputs),
        speed=", ".join(
            f"{r} {inputs.eval_report[r]['tokens_per_s']:.0f}" for r in ("base", "adapter") if r in inputs.eval_report
        ),
        budget=inputs.eval_report.get("max_new_tokens", "?"),
        constrained=shown != registry.SERVED and any(k.startswith(f"{registry.SERVED}.") for k in m),
        shown_constrained=shown == registry.SERVED,
        floor_verdicts=floor_verdicts(inputs),
        schema_file=hub_layout_schema(),
        signature=CARD_SIGNATURE,
        git_commit=inputs.git_commit,
        lock_rows=list(inputs.lock.items()),
        adapter_sha256=inputs.adapter_sha256 or "n/a",
        libraries=", ".join(f"{k} {v}" for k, v in inputs.libraries.items()),
    )


def changes_since(inputs: CardInputs) -> dict[str, Any]:
    """The card's "Changes since vN-1" (:func:`records.changes_section`)."""
    this = records.results(
        inputs.params.hub.version, "this version", inputs.metrics, inputs.eval_report, inputs.records
    )
    return records.changes_section(inputs.previous, this, inputs.skipped)


def hub_layout_schema() -> str:
    """The decoding schema's name in a version (the card tells servers to load it)."""
    from kwanzaa_hub.hub.versions import REPO_LAYOUT

    return REPO_LAYOUT["decoding_schema"]


def check_card(text: str, inputs: CardInputs) -> None:
    """Offline validation: the metadata parses, says peft, and its model-index holds every headline metric."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(text)
    except Exception as exc:
        raise CardError(f"the rendered model card does not parse: {exc}") from None
    d = card.data
    problems = []
    if d.library_name != "peft":
        problems.append("library_name is not peft")
    if d.license != inputs.params.hub.license:
        problems.append(f"license {d.license!r} != hub.license {inputs.params.hub.license!r}")
    shown = card_runs(inputs.metrics)[0]
    expected = {n: float(inputs.metrics[f"{shown}.{n}"]) for n in card_metrics(inputs.metrics)}
    found = {r.metric_type: r.metric_value for r in (d.eval_results or [])}
    if found != expected:
        problems.append(f"model-index results {found} != metrics.json {expected}")
    if problems:
        raise CardError("model card metadata is wrong: " + "; ".join(problems))
