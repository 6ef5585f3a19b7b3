"""Reviewing a version by its answers through `kwanzaa-hub diff` (the CLI runner): the served run and the adapter
tested per split by default, `--all` for the rest; two local folders, a pulled version or the workspace without a
Hub repo; bad rows and bad argument combinations refused with one line; older definitions compared by headline
numbers only; the card's "Changes since" is the same review. Rows and metric specs are hand-made (tests/rows.py)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.contract.metrics import paired
from kwanzaa_hub.contract.metrics import specs as metric_specs
from kwanzaa_hub.stages import push as push_stage
from tests.helpers import FAST, listed_prompts, params_for
from tests.rows import SPECS, key, rows, write

SERVED, A, B = "adapter_constrained", "adapter", "base"


@pytest.fixture(autouse=True)
def hand_made_specs(monkeypatch):
    from kwanzaa_hub.console import console

    monkeypatch.setattr(metric_specs, "SPECS", SPECS, raising=False)
    monkeypatch.setattr(console, "_width", 220)  # whole cells, one table row per line


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=220, env={"COLUMNS": "220"})


def _one_line_exit_2(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output


def _table(output: str) -> dict[str, list[str]]:
    """The diff table's rows: ``{"split metric" or "metric": cells}``."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip()[1:-1].split("│")]
        if line.startswith("│ ") and len(cells) > 4 and cells[0] not in ("metric", "split"):
            name = f"{cells[0]} {cells[1]}" if cells[0] in paired.SPLITS else cells[0]
            found[name] = cells
    return found


def _side(folder: Path, runs: dict, *, n: int = 8, distractors: bool = False, **kw) -> list[dict]:
    made = rows(runs, **kw)
    if distractors:
        made += rows(runs, split="distractors", **kw)
    folder.mkdir(parents=True, exist_ok=True)
    write(folder, made)
    return made


def _runs(verdict: list, **extra) -> dict:
    n = len(verdict)
    values = {"verdict": verdict, "overlap": [0.5] * n, "truncated": [0] * n, "extra": [1] * n}
    return {run: {**values, **extra} for run in (SERVED, A, B)}


@pytest.fixture
def here(tmp_path, monkeypatch):
    """cwd = a workspace with default params (no Hub repo anywhere)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    return tmp_path


def test_diff_tests_the_served_run_and_the_adapter_per_split_by_default_and_all_adds_the_rest(here):
    _side(here / "old", _runs([0] * 8), distractors=True)
    _side(here, _runs([1] * 8), distractors=True)
    result = _invoke("diff", "--from", "old", "--workspace")
    assert result.exit_code == 0, result.output
    table = _table(result.output)
    headline = [f"{r}.{m}" for r in (SERVED, A) for m in ("verdict", "overlap", "truncated")]
    assert sorted(table) == sorted(f"{s} {h}" for s in paired.SPLITS for h in headline)  # 12 rows, no base
    assert table[f"plain {SERVED}.verdict"][2:] == ["0.000", "1.000", "+1.000", "better", "p = 0.00781"]  # 2/2^8
    assert table[f"distractors {A}.overlap"][2:] == ["0.500", "0.500", "+0.000", "same", "95% CI [+0.000, +0.000]"]
    assert paired.LEVEL.split(":")[0] in " ".join(result.output.split())
    everything = _table(_invoke("diff", "--from", "old", "--workspace", "--all").output)
    assert len(everything) == 2 * 3 * 4  # splits x runs x metrics
    assert everything[f"plain {B}.extra"][-2] == "same"


def test_two_folders_and_a_pulled_version_are_compared_without_a_hub_repo(outputs, hub, repo_id):
    """`pull` writes a version's folder; `diff --from FOLDER --workspace` and `--from A --to B` need no repo."""
    _side(outputs, _runs([0] * 8))
    push_stage.run(params_for(repo_id), retry=FAST)
    _side(outputs, _runs([1] * 8))
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    assert _invoke("pull", repo_id, "--version", "v1", "--out", "v1").exit_code == 0
    pulled = _invoke("diff", "--from", "v1", "--workspace")
    assert pulled.exit_code == 0, pulled.output
    assert _table(pulled.output)[f"{SERVED}.verdict"][1:] == ["0.000", "1.000", "+1.000", "better", "p = 0.00781"]
    hubbed = _invoke("diff", repo_id, "v1", "--workspace")
    assert _table(hubbed.output) == _table(pulled.output)  # the Hub form reads the same figures and tests
    shutil.copytree(outputs / "eval", outputs / "ws/eval")
    shutil.copy(outputs / "metrics.json", outputs / "ws/metrics.json")
    assert _table(_invoke("diff", "--from", "v1", "--to", "ws").output) == _table(pulled.output)
    # a pulled file edited afterwards: refused against the folder's manifest
    (outputs / "v1/eval/predictions.jsonl").write_text((outputs / "eval/predictions.jsonl").read_text())
    _one_line_exit_2(_invoke("diff", "--from", "v1", "--workspace"), "v1/eval/predictions.jsonl: not the file")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "name the older side"),
        (("--workspace",), "name the older side"),
        (("--from", "old"), "name one newer side"),
        (("--from", "old", "--workspace", "--to", "old"), "name one newer side"),
        (("tester/x", "v1", "--from", "old", "--workspace"), "--from FOLDER is the older side"),
        (("tester/x", "v1", "v2", "--workspace"), "or pass --workspace"),
        (("tester/x", "v1"), "or pass --workspace"),
        (("--from", "nowhere", "--workspace"), "nowhere: no metrics.json in it"),
    ],
)
def test_a_bad_combination_of_sides_exits_2_with_one_line(here, args, says):
    _side(here / "old", _runs([0] * 4))
    _side(here, _runs([0] * 4))
    _one_line_exit_2(_invoke("diff", *args), says)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: r.update(id=[1]), "id is [1], expected a string"),
        (lambda r: r.update(runs={"adapter": "x"}), 'runs.adapter is "x"'),
        (lambda r: r["runs"][A]["values"].update(verdict=10**400), "values.verdict is a huge integer"),
        (lambda r: r["runs"][A]["values"].update(verdict=float("nan")), "values.verdict is nan"),
        (lambda r: r["runs"][A]["values"].update(verdict=float("inf")), "values.verdict is inf"),
        (lambda r: r["runs"][A]["values"].update(verdict=-0.5), "values.verdict is -0.5, expected a number in [0, 1]"),
        (lambda r: r.update(key=key(0)), "duplicate prompt key"),
    ],
)
def test_a_malformed_row_in_the_workspace_is_refused_with_one_line_naming_file_and_line(here, edit, says):
    _side(here / "old", _runs([0] * 4))
    made = _side(here, _runs([1] * 4))
    edit(made[2])
    (here / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in made))
    result = _invoke("diff", "--from", "old", "--workspace")
    _one_line_exit_2(result, "eval/predictions.jsonl:3: ")
    assert says in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("metrics.json", b"\xff\xfe{}", "not UTF-8 text"),
        ("eval/predictions.jsonl", b'{"key": "\xff"}\n', "not UTF-8 text"),
        ("metrics.json", b"[" * 100_000, "nested too deeply"),
    ],
    ids=["metrics not UTF-8", "records not UTF-8", "metrics nested"],
)
def test_a_results_file_that_is_not_text_or_json_is_one_line_not_a_traceback(here, name, content, says):
    _side(here / "old", _runs([0] * 4))
    _side(here, _runs([1] * 4))
    (here / "old" / name).write_bytes(content)
    result = _invoke("diff", "--from", "old", "--workspace")
    _one_line_exit_2(result, f"old/{name}")
    assert says in result.output and "Traceback" not in result.output


def test_inserting_one_sample_unpairs_nothing_and_different_prompt_sets_are_flagged(here):
    _side(here / "old", _runs([0] * 24), prompts=list(range(24)))
    _side(here, _runs([1] * 12), prompts=[99, *range(11)])  # one new prompt first: every id moved
    result = _invoke("diff", "--from", "old", "--workspace")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "the prompt sets differ (plain split): 11 shared, 13 only in old, 1 only in workspace" in text
    assert _table(result.output)[f"{A}.verdict"][1:] == ["0.000", "1.000", "+1.000", "better", "p = 0.000977"]


def test_never_refusing_against_always_refusing_is_within_noise_on_the_same_figure(here):
    _side(here / "old", _runs([1, 0] * 12))
    _side(here, _runs([0, 1] * 12))
    cells = _table(_invoke("diff", "--from", "old", "--workspace").output)[f"{SERVED}.verdict"]
    assert cells[1:] == ["0.500", "0.500", "+0.000", "within noise (n = 24)", "p = 1"]


def test_a_run_or_split_on_one_side_only_is_named_not_silently_dropped(here):
    _side(here / "old", {A: {"verdict": [0] * 4}})
    _side(here, _runs([1] * 4), distractors=True)
    result = _invoke("diff", "--from", "old", "--workspace")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"the {SERVED} run is only in workspace: not compared" in text
    assert "the distractors split is only in workspace: not compared" in text
    assert sorted(_table(result.output)) == [f"{A}.overlap", f"{A}.truncated", f"{A}.verdict"]


def test_no_prompt_in_common_is_not_tested_never_p_equals_1(here):
    _side(here / "old", _runs([0] * 4), prompts=[0, 1, 2, 3])
    _side(here, _runs([1] * 4), prompts=[4, 5, 6, 7])
    result = _invoke("diff", "--from", "old", "--workspace")
    assert result.exit_code == 0, result.output
    assert _table(result.output)[f"{A}.verdict"][4] == paired.NOT_TESTED and "p = 1" not in result.output


def _legacy(folder: Path, definitions: int) -> None:
    (folder / "eval").mkdir(parents=True)
    (folder / "reports").mkdir()
    legacy = [{"id": "eval-00001", "adapter": {"scores": {"verdict": 1}}}]
    (folder / "eval/predictions.jsonl").write_text(json.dumps(legacy[0]) + "\n")
    (folder / "metrics.json").write_text(json.dumps({f"{A}.verdict": 0.25, f"{SERVED}.verdict": 0.5}))
    (folder / "reports/eval.json").write_text(json.dumps({"metric_definitions": definitions}))


def test_a_side_of_older_definitions_gets_headline_numbers_and_one_line_never_a_label(here):
    _legacy(here / "old", 2)
    _side(here, _runs([1] * 8))
    result = _invoke("diff", "--from", "old", "--workspace")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "definitions" in line]
    assert len(lines) == 1 and lines[0].startswith("old was scored under metric definitions 2 and workspace under 3")
    table = _table(result.output)
    assert table[f"{A}.verdict"][1:] == ["0.250", "1.000", "+0.750", "", ""]  # no label across definitions
    _one_line_exit_2(_invoke("diff", "--from", "old", "--workspace", "--examples"), "metric definitions 2")
    _legacy(here / "older", 2)
    alike = _invoke("diff", "--from", "older", "--to", "old")
    assert "older was scored under metric definitions 2 (rows not keyed by prompt): headline metrics only" in (
        " ".join(alike.output.split())
    )
    assert _table(alike.output)[f"{A}.verdict"][4] == "same"  # same definitions: the direction alone


def test_hub_versions_examples_markdown_and_the_card_are_one_review(outputs, hub, repo_id):
    _side(outputs, _runs([1, 1, 0, 0, 1, 1, 0, 1], overlap=[0.2] * 8))
    push_stage.run(params_for(repo_id), retry=FAST)
    _side(
        outputs,
        _runs([1, 0, 1, 1, 1, 1, 1, 1], overlap=[0.2, 0.4, 0.2, 0.1, 0.2, None, 0.2, 0.2]),
        prompts=[*range(7), 9],
    )
    push_stage.run(params_for(repo_id, "v2"), retry=FAST)

    result = _invoke("diff", repo_id, "v1", "v2", "--examples")
    assert result.exit_code == 0, result.output
    listed = listed_prompts(result.output)
    assert listed[f"{SERVED}.verdict"] == {
        ("fixed", "eval-00003"),
        ("fixed", "eval-00004"),
        ("fixed", "eval-00007"),
        ("broken", "eval-00002"),
    }
    assert listed[f"{A}.overlap"] == {("fixed", "eval-00002"), ("broken", "eval-00004")}
    line = next(x for x in result.output.splitlines() if x.startswith(f"{SERVED}.verdict:"))
    assert line.endswith("0.571 -> 0.857 (+0.286), within noise (n = 7) (p = 0.625): 3 fixed, 1 broken, 3 unchanged")
    md = _invoke("diff", repo_id, "v1", "v2", "--md")
    assert (
        md.exit_code == 0
        and "| adapter_constrained.verdict | 0.571 | 0.857 | +0.286 | within noise (n = 7) |" in md.output
    )

    card = (outputs / "MODEL_CARD.md").read_text()
    assert "## Changes since v1" in card and "The prompt sets differ (plain split): 7 shared, 1 only in v1" in card
    assert f"| {SERVED}.verdict | 0.571 | 0.857 | +0.286 (within noise (n = 7)) | 3 | 1 | p = 0.625 |" in card


def test_a_version_without_records_diffs_headline_numbers_and_refuses_examples(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    from kwanzaa_hub.hub import publish

    HfApi().create_repo(repo_id, private=True)
    _side(outputs, _runs([1] * 8))
    with tempfile.TemporaryDirectory() as tmp:
        files = push_stage.payload(params_for(repo_id), Path(tmp))
        files.pop("eval/predictions.jsonl")
        publish.push_version(repo_id, "v1", files, message="v1 (older kwanzaa_hub)", retry=FAST)
    receipt = push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    card = (outputs / "MODEL_CARD.md").read_text()
    assert "## Changes since v1" in card and "was pushed before versions carried per-example records" in card
    headline = _invoke("diff", repo_id, "v1", "v2")
    assert headline.exit_code == 0, headline.output
    why = [line for line in headline.output.splitlines() if "per-example records" in line]
    assert len(why) == 1 and "headline metrics only" in why[0]
    _one_line_exit_2(_invoke("diff", repo_id, "v1", "v2", "--examples"), "was pushed before versions carried")
    _one_line_exit_2(_invoke("diff", repo_id, "v2", "v9", "--examples"), "has no version 'v9'")

    # a tampered file: v3's records swapped on the server for other bytes (before anything downloaded them)
    receipt = push_stage.run(params_for(repo_id, "v3"), retry=FAST)
    with hub.store.lock:
        repo = hub.store.get(repo_id)
        entry = repo["commits"][receipt["commit"]]["files"]["eval/predictions.jsonl"]
        entry.update(hub.store.put_blob(b'{"id": "q00"}\n'))
        hub.store.put(repo_id, repo)
    _one_line_exit_2(
        _invoke("diff", repo_id, "v2", "v3", "--examples"), "v3: eval/predictions.jsonl on the Hub is not the file"
    )


def test_base_against_adapter_in_the_eval_table_and_the_card_is_the_same_paired_test(outputs, monkeypatch):
    """The eval table and the card label base -> adapter with :func:`paired.compare` on the rows too."""
    from kwanzaa_hub.cli.tables import metrics_table
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.contract.metrics.specs import Metric
    from kwanzaa_hub.hub import card

    fc = Metric("refusal_accuracy", True, True, "refuses where the reference does", lambda *_: None, "sign")
    monkeypatch.setattr(metric_specs, "SPECS", (fc,), raising=False)
    made = rows({B: {"refusal_accuracy": [1, 1, 1, 1, 0, 0, 0, 0]}, A: {"refusal_accuracy": [1, 1, 1, 1, 0, 0, 1, 0]}})
    write(outputs, made)
    metrics = {"base.refusal_accuracy": 0.5, "adapter.refusal_accuracy": 0.625}

    import io

    from rich.console import Console

    screen = Console(width=200, file=io.StringIO())
    screen.print(metrics_table(metrics, records=made))
    assert "within noise (n = 8)" in screen.file.getvalue()
    text = str(card.build_card(card.gather(parse_params({"model": {"base": "models/base"}}))))
    row = next(line for line in text.splitlines() if line.startswith("| **refusal_accuracy**"))
    assert row.startswith("| **refusal_accuracy** | ") and "(within noise (n = 8))" in row
