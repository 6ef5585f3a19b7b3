"""The params reference table (docs/params.md), generated from the params classes."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from kwanzaa_hub.config.params import Params


def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return '""' if text in ("''", "") else text


def reference_rows(model: type[BaseModel] = Params, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(dotted key, default as YAML, description)`` for every leaf param, in params.yaml order."""
    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows += reference_rows(ann, f"{prefix}{name}.")
            continue
        default = field.get_default(call_default_factory=True)
        rows.append((f"{prefix}{name}", _yaml_value(default), field.description or ""))
    return rows


def reference_markdown() -> str:
    """The params reference table of docs/params.md, generated from the classes (a test keeps it in sync)."""
    lines = ["| key | default | what it changes |", "| --- | --- | --- |"]
    lines += [f"| `{k}` | `{d}` | {desc} |" for k, d, desc in reference_rows()]
    return "\n".join(lines) + "\n"
