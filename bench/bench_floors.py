"""The bar under metric definitions 3, with no model: the team's reference answers and every floor (an answer built
from the prompt alone: copy every document and cite each, cite [1], refuse everything, answer uncited, another
prompt's reference) scored by the eval's own rows on the team's eval split, plain and with distractor documents.

    python bench/bench_floors.py        # seconds; writes bench/results/floors.json

A model's figure means something only where it beats the best floor of its metric on the same split; the references
show where a perfect answerer stands. Skips (exit 0) when ``../shared/kwanzaa-data`` is absent.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "kwanzaa-data"
OUT = REPO / "bench" / "results" / "floors.json"


def main() -> int:
    if not (SHARED / "kwanzaa_eval.jsonl").is_file():
        print(f"skipped: {SHARED}/kwanzaa_eval.jsonl is absent", file=sys.stderr)
        return 0
    sys.path.insert(0, str(REPO))
    from kwanzaa_hub.contract import distractors
    from kwanzaa_hub.contract import samples as samples_mod
    from kwanzaa_hub.contract.metrics import rows, specs
    from kwanzaa_hub.fs.atomic import atomic_write_text

    check = samples_mod.check_file(SHARED / "kwanzaa_eval.jsonl", "eval")  # read as the data stage reads it
    samples = check.samples
    messages = [s.messages for s in samples]
    ids = [s.id for s in samples]
    categories = [s.category for s in samples]
    team_schema = json.loads((SHARED / "answer_json.schema.json").read_text(encoding="utf-8"))
    plain_prompts = [m[:-1] for m in messages]
    plain_refs = [m[-1]["content"] for m in messages]
    d_prompts, d_refs, mappings = distractors.eval_split(plain_prompts, plain_refs, 2, ids)
    result = {
        "metric_definitions": specs.DEFINITIONS,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "eval_prompts": len(samples),
        "distractors": 2,
        "splits": {},
    }
    for split, prompts, refs, maps in (
        ("plain", plain_prompts, plain_refs, None),
        ("distractors", d_prompts, d_refs, mappings),
    ):
        part = rows.split_rows(
            split=split,
            ids=ids,
            categories=categories,
            systems=[p[0]["content"] if len(p) > 1 else "" for p in prompts],
            users=[p[-1]["content"] for p in prompts],
            references=refs,
            mappings=maps,
            team_schema=team_schema,
        )
        agg = rows.aggregates(part)
        result["splits"][split] = {
            who: {m: {"mean": a.mean, "n": a.n} for m, a in by.items() if a.n} for who, by in agg.items()
        }
        result["splits"][split]["yardstick_failures"] = rows.yardstick_failures(part)
    atomic_write_text(OUT, json.dumps(result, indent=1) + "\n")
    for split, by in result["splits"].items():
        print(f"\n{split} split ({len(samples)} prompts), headline metrics, metric definitions {specs.DEFINITIONS}:")
        whos = [w for w in by if w != "yardstick_failures"]
        print("answerer".ljust(16) + "".join(h.rjust(20) for h in specs.HEADLINE))
        for who in whos:
            cells = [by[who].get(h, {}) for h in specs.HEADLINE]
            print(
                who.ljust(16)
                + "".join(f"{c.get('mean', float('nan')):.3f} (n={c.get('n', 0)})".rjust(20) for c in cells)
            )
    print(f"\nwrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
