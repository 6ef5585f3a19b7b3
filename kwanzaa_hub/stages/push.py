"""The ``push`` stage: model card, then one commit + an immutable tag on a private Hub repo, then a receipt.

Phases of :func:`run`: collect the payload (adapter + tokenizer files, ``metrics.json``, the data, train and
eval reports, the eval details, the per-example records ``eval/predictions.jsonl``, the decoding schema
``answer.schema.json``, the resolved params) -> render and check the card -> with no ``hub.repo_id``, stop there
and say nothing was pushed -> preflight the token -> create the repo private or check its visibility -> read the
results of the newest earlier version that verifies (one that does not is named and skipped, and the card says
so) and render the card again with its "Changes since" section -> commit and tag (a no-op when the tag already
holds the same payload) -> write ``MODEL_CARD.md`` and ``reports/push.json``. Outputs are written only after the
push succeeded, so DVC never caches a receipt for a push that did not happen.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kwanzaa_hub.config.params import Params, to_yaml_dict
from kwanzaa_hub.console import console, warn
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.fs.atomic import all_or_nothing, atomic_write_json, atomic_write_text
from kwanzaa_hub.fs.ownership import MARKER, claim_all, without_machine_paths
from kwanzaa_hub.hub import card as card_mod
from kwanzaa_hub.hub import client as hub
from kwanzaa_hub.hub import publish, records, versions
from kwanzaa_hub.runtime.models import ADAPTER_FILES


def payload(params: Params, scratch: Path) -> dict[str, Path]:
    """Files of this version, as path in repo -> local path. The resolved params are written into ``scratch``."""
    out = Path(params.train.output_dir)
    missing = [f for f in ADAPTER_FILES if not (out / f).is_file()]
    if missing:
        raise InputError(f"{out}/ lacks {missing}: run `dvc repro train` first")
    files = {f.name: f for f in sorted(out.iterdir()) if f.is_file() and f.name != MARKER}
    unsafe = [n for n in files if n.lower().endswith(versions.UNSAFE_SUFFIXES)]
    if unsafe:
        raise InputError(f"{out}/ holds pickle files {unsafe}; only safetensors are published")
    layout = versions.REPO_LAYOUT
    for name, path in (
        (layout["metrics"], params.eval.metrics_file),
        (layout["data_report"], params.data.report),
        (layout["train_report"], params.train.report),
        (layout["eval_report"], params.eval.report),
        (layout["eval_details"], params.eval.details_file),
        (layout["predictions"], params.eval.predictions_file),
        (layout["decoding_schema"], params.data.decoding_schema),
    ):
        if not Path(path).is_file():
            raise InputError(f"{path} not found: run `dvc repro` up to the eval stage first")
        files[name] = Path(path)
    resolved = scratch / "params.yaml"
    resolved.write_text(yaml.safe_dump(without_machine_paths(to_yaml_dict(params)), sort_keys=False), encoding="utf-8")
    files[layout["params"]] = resolved
    return files


def run(params: Params, *, retry: hub.RetryPolicy | None = None) -> dict[str, Any]:
    """Push ``hub.version`` (or only write the card when ``hub.repo_id`` is empty); return the receipt."""
    h = params.hub
    claim_all(params.outputs("push"))
    with tempfile.TemporaryDirectory(prefix="kwanzaa-push-") as tmp:
        scratch = Path(tmp)
        files = payload(params, scratch)
        manifest = versions.build_manifest(files)  # hashed once: for the card, the commit and the receipt
        inputs = card_mod.gather(params, adapter_sha256=manifest["adapter_model.safetensors"])
        card = card_mod.build_card(inputs)
        text = str(card)
        card_mod.check_card(text, inputs)
        if not h.repo_id:
            receipt = {
                "pushed": False,
                "reason": "hub.repo_id is empty: card written, nothing pushed",
                "version": h.version,
                "card": h.card_file,
            }
            _write_outputs(params, text, receipt)
            console.print(f"push: hub.repo_id is empty; wrote {h.card_file}, nothing was pushed")
            return receipt

        console.print(
            f"push: {len(files) + 2} files as {h.repo_id}@{h.version} "
            f"({'private' if h.private else 'public'}), card + manifest included"
        )
        who = hub.preflight(h.repo_id)
        created = hub.ensure_repo(h.repo_id, private=h.private, allow_public=h.allow_public)
        inputs.previous, inputs.skipped = previous_results(h.repo_id, h.version)
        card = card_mod.build_card(inputs)
        text = str(card)
        card_mod.check_card(text, inputs)
        hub.call(card.validate, what="validating the model card metadata", repo_id=h.repo_id, retry=retry)
        (scratch / versions.CARD_FILE).write_text(text, encoding="utf-8")
        files[versions.CARD_FILE] = scratch / versions.CARD_FILE
        m = inputs.metrics
        message = (
            f"{h.version}: format {m.get('adapter.format_compliance', float('nan')):.3f}, "
            f"citation F1 {m.get('adapter.citation_f1', float('nan')):.3f}"
        )
        result = publish.push_version(
            h.repo_id, h.version, files, message=message, manifest=manifest, adopt=h.adopt_existing, retry=retry
        )
    uploaded = {
        **manifest,
        versions.CARD_FILE: hashlib.sha256(text.encode("utf-8")).hexdigest(),
        versions.MANIFEST: hashlib.sha256(versions.manifest_bytes(manifest)).hexdigest(),
    }
    receipt = {
        "pushed": not result.noop,
        "noop": result.noop,
        "repo_id": result.repo_id,
        "version": result.version,
        "commit": result.commit,
        "url": result.url,
        "private": h.private,
        "created_repo": created,
        "user": who["user"],
        "files": uploaded,
        "manifest": result.files,
    }
    _write_outputs(params, text, receipt)
    if result.noop:
        console.print(
            f"push: {h.repo_id}@{h.version} already holds these files (commit {result.commit[:12]}); nothing to do"
        )
    else:
        console.print(f"push: {h.repo_id}@{h.version} -> commit {result.commit[:12]}, tagged; {result.url}")
    return receipt


def previous_results(repo_id: str, version: str) -> tuple[records.Results | None, str]:
    """The results of the newest version before ``version`` that verifies (the card's "Changes since"), and the
    card's sentence naming the newer earlier versions skipped because they do not (a tampered file, no manifest,
    a moved tag), each also a warning on stderr. A version that does not verify never blocks the next push: it is
    flagged, and the card says which version it was compared with instead. A Hub that cannot be reached stops the
    push (exit 1)."""
    skipped: list[str] = []
    found = None
    earlier = records.previous_version(repo_id, version)
    while earlier is not None:
        try:
            found = records.version_results(repo_id, earlier)
            break
        except (versions.VersionRefused, InputError) as exc:
            warn(
                f"push: {earlier} does not verify, so {version} is not compared with it ({exc}); comparing with "
                "the newest earlier version that verifies, and the card says so"
            )
            skipped.append(earlier)
            earlier = records.previous_version(repo_id, earlier)
    if not skipped:
        return found, ""
    names = ", ".join(skipped)
    return found, (
        f"Not compared with {names}: {'it does' if len(skipped) == 1 else 'they do'} not verify against "
        f"{'its' if len(skipped) == 1 else 'their'} {versions.MANIFEST} (altered, moved or not pushed by kwanzaa-hub; "
        f"`kwanzaa-hub versions {repo_id}` says why)."
    )


def _write_outputs(params: Params, card_text: str, receipt: dict[str, Any]) -> None:
    h = params.hub
    with all_or_nothing(h.card_file, h.receipt):
        atomic_write_text(h.card_file, card_text)
        atomic_write_json(h.receipt, receipt)
