"""Typed params read from params.yaml: one section per stage, unknown or mistyped keys rejected.

Every problem in the file is collected into one ``ParamsError`` that names each key::

    params.yaml: train.lora.r: Input should be greater than 0 (found 0)
    params.yaml: train.lora.rank: unknown key

Why this module is long: it is the one declaration of every key (type, default, bounds, the one-line help
that docs/params.md is generated from) and the cross-field checks; reading the file is config/yamlfile.py,
the reference table config/reference.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kwanzaa_hub.config.base_model import base_ref
from kwanzaa_hub.config.names import repo_id_problem, version_problem
from kwanzaa_hub.config.yamlfile import parent_of, read_params_file
from kwanzaa_hub.errors import ParamsError
from kwanzaa_hub.fs.ownership import Output, layout_problems

DEFAULT_PARAMS = Path("params.yaml")
#: transformers schedulers that run with no extra scheduler arguments (tests keep this in step with
#: transformers' SchedulerType; the others need kwargs or an eval metric this pipeline does not pass).
SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
)

DEFAULT_CHAT_DATE = "26 Jul 2024"  # the date Llama 3.2 was released; any fixed date keeps renders stable


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class ModelParams(_Section):
    """The base model and how its chat template is rendered."""

    base: str = Field(
        "meta-llama/Llama-3.2-1B-Instruct",
        description="Hub id org/name, a local folder (./m, /abs/m) or a .gguf file; set a local one with "
        "kwanzaa-hub set (it becomes a DVC dep)",
    )
    revision: str = Field("main", description="Hub revision of the base model (ignored for local paths)")
    chat_date: str = Field(
        DEFAULT_CHAT_DATE,
        description="Date written into the Llama 3.x system header; pinned so every day renders the same tokens",
    )

    @field_validator("base")
    @classmethod
    def _base_named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty: name a Hub id (org/name), a local model folder or a .gguf file")
        return v


class DataParams(_Section):
    """Dataset files and the length policy the data stage enforces."""

    train_file: str = Field("data/raw/kwanzaa_train.jsonl", description="Training JSONL, one chat sample a line")
    eval_file: str = Field("data/raw/kwanzaa_eval.jsonl", description="Held-out JSONL, same format")
    max_length: int = Field(4096, gt=0, description="Longest sample in tokens (chat template applied)")
    overflow: Literal["error", "drop"] = Field(
        "error", description="Samples longer than max_length: fail the stage, or drop them and list them"
    )
    prepared_dir: str = Field("data/prepared", description="Prepared dataset (datasets on disk)")
    placeholders: Literal["keep", "drop", "mask", "error"] = Field(
        "keep",
        description="Samples whose answer.text is a template ('[Generated answer for: ...]'): keep them (warned "
        "and listed), drop them, mask them (trained on the rest of the answer, the text's tokens out of the loss), "
        "or fail the stage",
    )
    answer_format: Literal["as_written", "compact"] = Field(
        "as_written",
        description="Answers trained and scored as the files write them, or compact: on one line, in the form the "
        "constrained decoder writes (contract key order, result labels/URLs lifted out of metadata); the decoding "
        "schema follows",
    )
    schema_margin: float = Field(
        1.5, ge=1.0, description="Decoding schema bounds = longest reference value x this (maxLength, maxItems)"
    )
    distractors: int = Field(
        0,
        ge=0,
        description="Documents of other training samples added to each training prompt, all documents shuffled "
        "(fixed seed) and the answer's [n], sources and results renumbered; 0 = the prompts as written; the eval "
        "split is untouched",
    )
    report: str = Field("reports/data.json", description="Data report, a DVC metric")
    decoding_schema: str = Field(
        "reports/answer.schema.json", description="Bounded JSON Schema of the answer for constrained decoding"
    )


class QuantizationParams(_Section):
    """QLoRA 4-bit loading (bitsandbytes)."""

    enabled: bool = Field(True, description="Load the base model in 4 bits; false trains plain LoRA")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="bnb_4bit_quant_type")
    double_quant: bool = Field(True, description="bnb_4bit_use_double_quant")


class LoraParams(_Section):
    """PEFT LoraConfig."""

    r: int = Field(16, gt=0, description="LoRA rank")
    alpha: int = Field(32, gt=0, description="LoRA alpha (scaling = alpha / r)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="LoRA dropout")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1,
        description="Linear layers that get adapters",
    )


class TrainParams(_Section):
    """QLoRA supervised fine-tuning."""

    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed for data order, LoRA init and dropout (0..2**32-1)")
    epochs: float = Field(3.0, gt=0, description="Training epochs (used when max_steps is -1)")
    max_steps: int = Field(-1, ge=-1, description="Optimizer steps; -1 = use epochs")
    per_device_batch_size: int = Field(1, gt=0, description="Samples per device per micro-batch")
    gradient_accumulation_steps: int = Field(8, gt=0, description="Micro-batches per optimizer step")
    learning_rate: float = Field(1e-3, gt=0, description="Peak learning rate")
    lr_scheduler: Literal[SCHEDULERS] = Field(  # type: ignore[valid-type]
        "cosine", description="transformers scheduler: " + ", ".join(SCHEDULERS)
    )
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps spent warming up")
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="auto picks from the hardware: bf16 on Ampere+, fp16 on a T4, fp32 on CPU"
    )
    kernels: Literal["auto", "liger", "none"] = Field(
        "auto",
        description="Fused Liger kernels: auto = on CUDA 8.0+ when liger-kernel is installed (never on a T4, "
        "untested there); liger forces them; none",
    )
    gradient_checkpointing: bool = Field(True, description="Recompute activations to save memory (slower)")
    padding_free: bool = Field(
        False,
        description="Concatenate a batch's samples into one row with no padding (position_ids keep them "
        "apart); pays off with per_device_batch_size > 1",
    )
    logging_steps: int = Field(1, gt=0, description="Optimizer steps between loss logs")
    save_steps: int = Field(10, gt=0, description="Optimizer steps between resumable checkpoints")
    checkpoint_dir: str = Field("checkpoints", description="Persisted checkpoints (resume after an interruption)")
    checkpoint_mirror: str = Field(
        "hub",
        description="Copy of each checkpoint that survives a lost VM: 'hub' (the `checkpoints` branch of "
        "hub.repo_id, when set), a folder such as a mounted Drive, or 'none'",
    )
    quantization: QuantizationParams = Field(default_factory=QuantizationParams)
    lora: LoraParams = Field(default_factory=LoraParams)
    allow_cpu: bool = Field(
        False,
        description="Train a base model over 500M parameters on a machine without a GPU (hours); false stops "
        "before the model loads",
    )
    num_processes: int = Field(
        1, gt=0, description="Processes (GPUs) for DDP; >1 runs the stage under `accelerate launch`"
    )
    accelerate_config: str = Field(
        "", description="accelerate config file for FSDP or DeepSpeed (`accelerate config`); empty = plain DDP"
    )
    output_dir: str = Field("models/adapter", description="Final adapter + tokenizer")
    report: str = Field("reports/train.json", description="Training report, a DVC metric")
    dvclive_dir: str = Field("dvclive", description="DVCLive loss curves (dvc plots)")

    @field_validator("checkpoint_mirror")
    @classmethod
    def _mirror_keyword(cls, v: str) -> str:
        if v.lower() in ("hub", "none", "null", "~", "false", "off") and v not in ("hub", "none"):
            raise ValueError("the keywords are exactly 'hub' and 'none' (lower case); a folder needs another name")
        return v

    @field_validator("max_steps")
    @classmethod
    def _steps_not_zero(cls, v: int) -> int:
        if v == 0:
            raise ValueError("must be -1 (use epochs) or a positive number of steps")
        return v


class EvalParams(_Section):
    """Batched generation and the task metrics."""

    max_new_tokens: Union[Literal["auto"], int] = Field(
        "auto",
        description="Generation budget per answer: auto = the longest reference answer of the eval split "
        "plus 15%; a number below that longest answer is refused unless allow_truncation is true",
    )
    allow_truncation: bool = Field(
        False,
        description="Accept a max_new_tokens that cuts the longest reference answers (quick runs); "
        "truncated_rate then says how many generations were cut",
    )
    batch_size: int = Field(8, gt=0, description="Prompts generated together (left padding)")
    baseline: bool = Field(True, description="Also score the base model alone")
    grounding_threshold: float = Field(0.5, ge=0, le=1, description="Lexical support needed per sentence")
    decoding: Literal["free", "constrained", "both"] = Field(
        "both",
        description="free: what training taught; constrained: every answer held to data.decoding_schema "
        "(what a server enforcing the schema returns); both: score each",
    )
    distractors: int = Field(
        2,
        ge=0,
        description="Documents of other eval prompts added to each eval prompt for the distractor split (all "
        "documents shuffled with a fixed seed, the reference renumbered); 0 = no distractor split",
    )
    team_schema: str = Field(
        "",
        description="The team's own answer JSON Schema (answer_json.schema.json); when set, team_schema_valid is "
        "the share of answers that pass it, beside format_compliance (the project's contract); empty = not scored",
    )
    metrics_file: str = Field("metrics.json", description="Headline quality metrics (flat keys), a DVC metric")
    details_file: str = Field(
        "eval/details.json", description="Every metric, per category, and generation speed (not a DVC metric)"
    )
    predictions_file: str = Field("eval/predictions.jsonl", description="Every generation with its scores")
    plot_file: str = Field("eval/plot.json", description="Base-vs-adapter bar chart data (dvc plots)")
    report: str = Field("reports/eval.json", description="Budget, stop reasons and generation speed")

    @field_validator("max_new_tokens", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        if v == "auto" or (type(v) is int and v > 0):
            return v
        raise ValueError("must be 'auto' or a positive number of tokens")


class HubParams(_Section):
    """Where and how the adapter is published."""

    repo_id: str = Field("", description="namespace/name on the Hub; empty = don't push")
    private: bool = Field(True, description="Create the repo private; pushing to a public repo needs allow_public")
    allow_public: bool = Field(False, description="Permit pushing to a repo that is public")
    version: str = Field("v1", description="Immutable tag for this push: v1, v2, ...")
    license: str = Field("llama3.2", description="License in the model card metadata")
    adopt_existing: bool = Field(
        False,
        description="Push into a repo whose main already holds files this tool did not write (they are "
        "kept, never replaced); false refuses such a repo",
    )
    card_file: str = Field("MODEL_CARD.md", description="The model card (tracked by git; uploaded as README.md)")
    receipt: str = Field("reports/push.json", description="What was pushed: repo, commit, tag, file hashes")

    @field_validator("repo_id")
    @classmethod
    def _repo_shape(cls, v: str) -> str:
        problem = repo_id_problem(v) if v else None
        if problem:
            raise ValueError(problem + " (or empty to skip the push)")
        return v

    @field_validator("version")
    @classmethod
    def _version_shape(cls, v: str) -> str:
        problem = version_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _public_is_explicit(self) -> HubParams:
        if not self.private and not self.allow_public:
            raise ValueError("hub.private is false: publishing a public repo also needs hub.allow_public: true")
        return self


class Params(_Section):
    """All of params.yaml."""

    model: ModelParams = Field(default_factory=ModelParams)
    data: DataParams = Field(default_factory=DataParams)
    train: TrainParams = Field(default_factory=TrainParams)
    eval: EvalParams = Field(default_factory=EvalParams)
    hub: HubParams = Field(default_factory=HubParams)

    def outputs(self, stage: str | None = None) -> list[Output]:
        """Every output path in params (or one stage's), with what the tool writes there. Only the asked stage's
        keys are read, so a stage reads no key it does not declare in dvc.yaml."""
        stages = {
            "data": self._data_outputs,
            "train": self._train_outputs,
            "eval": self._eval_outputs,
            "push": self._push_outputs,
        }
        return stages[stage]() if stage else [o for make in stages.values() for o in make()]

    def _data_outputs(self) -> list[Output]:
        d = self.data
        return [
            Output("data.prepared_dir", d.prepared_dir, "dir"),
            Output("data.report", d.report, "json", fields=("train", "eval", "max_length")),
            Output("data.decoding_schema", d.decoding_schema, "json", fields=("title", "properties", "x-guidance")),
        ]

    def _train_outputs(self) -> list[Output]:
        t = self.train
        outs = [
            Output("train.output_dir", t.output_dir, "dir"),
            Output("train.report", t.report, "json", fields=("optimizer_steps", "train_loss")),
            Output("train.checkpoint_dir", t.checkpoint_dir, "dir"),
            Output("train.dvclive_dir", t.dvclive_dir, "dir"),
        ]
        if t.checkpoint_mirror not in ("hub", "none"):
            outs.append(Output("train.checkpoint_mirror", t.checkpoint_mirror, "dir", absolute_ok=True))
        return outs

    def _eval_outputs(self) -> list[Output]:
        e = self.eval
        return [
            Output(
                "eval.metrics_file",
                e.metrics_file,
                "json",
                fields=("adapter.", "base.", "adapter_constrained.", "base_constrained.", "floor."),
            ),
            Output("eval.predictions_file", e.predictions_file, "jsonl", fields=("id", "prompt_sha256", "reference")),
            Output("eval.plot_file", e.plot_file, "json", fields=("metric", "model", "value")),
            Output("eval.report", e.report, "json", fields=("max_new_tokens",)),
            Output("eval.details_file", e.details_file, "json", fields=("metrics", "speed")),
        ]

    def _push_outputs(self) -> list[Output]:
        h = self.hub
        return [
            Output("hub.card_file", h.card_file, "card"),
            Output("hub.receipt", h.receipt, "json", fields=("pushed", "version")),
        ]

    def inputs(self) -> list[tuple[str, str]]:
        """Paths the stages read and never write: the data files and their folders, a local base model, the
        accelerate config."""
        d, base = self.data, self.model.base
        items = [
            ("data.train_file", d.train_file),
            ("data.eval_file", d.eval_file),
            ("data.train_file", str(Path(d.train_file).parent)),
            ("data.eval_file", str(Path(d.eval_file).parent)),
            ("train.accelerate_config", self.train.accelerate_config),
            ("eval.team_schema", self.eval.team_schema),
        ]
        if base_ref(base).kind != "hub":
            items.append(("model.base", base))  # a local folder or file, not a Hub id
        return [(k, v) for k, v in items if v and v != "."]

    @model_validator(mode="after")
    def _paths_are_safe(self) -> Params:
        problems = layout_problems(self.outputs(), self.inputs())
        if problems:
            raise ValueError("\n".join(problems))
        return self


#: Keys a stage reads that change none of its outputs, with the reason. dvc.yaml leaves them out of that stage's
#: ``params`` (changing one must not make the stage stale), the checkpoint fingerprint (train.WEIGHT_KEYS) leaves
#: them out, and tests/test_dvc.py accepts them, and only them, as read but undeclared.
OPERATIONAL_KEYS: dict[str, dict[str, str]] = {
    "train": {
        "hub.repo_id": "where versions are pushed: the preflight checks the token can write there before the long "
        "work, and the 'hub' checkpoint mirror lives on its checkpoints branch; no weight depends on it",
        "hub.private": "visibility of the repo the 'hub' mirror creates when it is missing; no weight depends on it",
        "hub.allow_public": "whether the 'hub' mirror may write into a public repo; no weight depends on it",
        "train.checkpoint_mirror": "where checkpoints are copied to survive a lost VM; resuming from it continues the "
        "same run (the fingerprint decides), so the weights are the same",
    },
}


def takes_only_text(key: str) -> bool:
    """True when the dotted params ``key`` holds text and nothing else (a string, or one of a few words): a value
    YAML reads as a number, a boolean or null is then meant as the text the user wrote (``model.revision=1234e567``)."""
    import types
    import typing

    model: Any = Params
    *sections, leaf = key.split(".")
    for part in sections:
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return False
        model = field.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or leaf not in model.model_fields:
        return False

    def text(ann: Any) -> bool:
        origin = typing.get_origin(ann)
        if origin in (Union, types.UnionType):
            return all(text(a) for a in typing.get_args(ann))
        if origin is Literal:
            return all(isinstance(a, str) for a in typing.get_args(ann))
        return ann is str

    return text(model.model_fields[leaf].annotation)


def _not_text_hint(key: str, value: Any) -> str:
    """Why YAML did not read the value of ``key`` as text, and what to write instead."""
    kind = "a boolean (yes/no/on/off/true/false)" if isinstance(value, bool) else "a number"
    kind = "null (null, ~ or nothing)" if value is None else kind
    return (
        f"{key}: expected text, but YAML reads this value as {kind} ({value!r}): write it in quotes "
        f"({key.rsplit('.', 1)[-1]}: '...'), or set it with `kwanzaa-hub set`, which keeps what you type as text"
    )


def _describe(err: dict[str, Any]) -> list[str]:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return [f"{key}: unknown key (check the spelling against the params reference in docs/params.md)"]
    msg = err["msg"].removeprefix("Value error, ")
    if not key:  # a check across sections (output paths) names its keys itself
        return msg.split("\n")
    if err["type"] == "finite_number":
        msg = "must be a finite number"
    if err["type"] in ("string_type", "literal_error") and not isinstance(err["input"], str):
        return [_not_text_hint(key, err["input"])]
    return [f"{key}: {msg} (found {err['input']!r})"]


def parse_params(raw: Any, *, source: str = "params.yaml") -> Params:
    """Validate a parsed YAML mapping; raise ``ParamsError`` naming every bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: expected a mapping of sections (model, data, train, eval, hub)")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {line}" for e in exc.errors() for line in _describe(e)]
        raise ParamsError("invalid params:\n  " + "\n  ".join(lines)) from None


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml."""
    return parse_params(read_params_file(path), source=str(path))


def to_yaml_dict(params: Params) -> dict[str, Any]:
    """Params as plain data, for writing params files and the model card."""
    return params.model_dump(mode="json")


def with_overrides(params: Params, overrides: dict[str, Any], *, source: str = "overrides") -> Params:
    """``params`` with each dotted key of ``overrides`` set (``{"train.lora.r": 32}``), validated like the file."""
    raw = to_yaml_dict(params)
    for key, value in overrides.items():
        node, leaf = parent_of(raw, key, where=source)
        node[leaf] = value
    return parse_params(raw, source=source)
