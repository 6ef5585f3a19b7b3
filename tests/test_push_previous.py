"""The version a push compares itself with (the card's "Changes since"): an earlier version that does not verify
never blocks the next push; it is named, skipped, and the card says so (issue 38.9). Which tag is "previous" follows
the one rule of version tags (issue 38.L5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kwanzaa_hub.stages import push as push_stage
from tests.helpers import FAST, params_for


def _alter(hub, repo_id: str, commit: str, name: str, data: bytes) -> None:
    """Swap a file of a pushed commit for other bytes on the server (a tampered version)."""
    with hub.store.lock:
        repo = hub.store.get(repo_id)
        repo["commits"][commit]["files"][name].update(hub.store.put_blob(data))
        hub.store.put(repo_id, repo)


def test_a_tampered_previous_version_is_skipped_named_and_said_on_the_card(outputs, hub, repo_id, capsys):
    """Each version is altered on the server right after its push (before anything has read it)."""
    first = push_stage.run(params_for(repo_id, "v1"), retry=FAST)
    _alter(hub, repo_id, first["commit"], "metrics.json", b'{"adapter.format_compliance": 1.0}\n')
    capsys.readouterr()
    second = push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    assert second["pushed"]
    card = Path("MODEL_CARD.md").read_text()
    assert "## Changes since the previous version" in card
    assert "Not compared with v1: it does not verify against its kwanzaa_manifest.json" in card
    assert "No earlier version verifies: none to compare." in card
    err = capsys.readouterr().err
    assert "push: v1 does not verify, so v2 is not compared with it" in err
    assert f"{repo_id}@v1: metrics.json on the Hub is not the file" in err

    _alter(hub, repo_id, second["commit"], "reports/eval.json", b"{}\n")
    third = push_stage.run(params_for(repo_id, "v3"), retry=FAST)
    assert third["pushed"]
    card = Path("MODEL_CARD.md").read_text()
    assert "Not compared with v2, v1: they do not verify against their kwanzaa_manifest.json" in card
    assert "No earlier version verifies" in card

    assert push_stage.run(params_for(repo_id, "v4"), retry=FAST)["pushed"]
    card = Path("MODEL_CARD.md").read_text()
    assert "## Changes since v3" in card and "Not compared" not in card


def test_a_previous_version_without_a_manifest_is_named_by_its_version_and_skipped(outputs, hub, repo_id, capsys):
    from huggingface_hub import HfApi

    push_stage.run(params_for(repo_id, "v1"), retry=FAST)
    api = HfApi()
    commit = api.list_repo_commits(repo_id)[-1].commit_id  # the repo's first commit: no manifest there
    api.create_tag(repo_id, tag="v2", revision=commit)
    capsys.readouterr()
    assert push_stage.run(params_for(repo_id, "v3"), retry=FAST)["pushed"]
    card = Path("MODEL_CARD.md").read_text()
    assert "## Changes since v1" in card and "Not compared with v2: it does not verify" in card
    err = capsys.readouterr().err
    assert f"{repo_id}@v2 (commit {commit[:12]}) has no kwanzaa_manifest.json" in err


@pytest.mark.parametrize(
    ("tags", "version", "previous"),
    [
        (["v1", "v2", "v03", "v3"], "v4", "v3"),
        (["v1", "v03", "v010"], "v4", "v1"),
        (["v9", "v10", "latest", "v1.5"], "v11", "v10"),
        (["v2", "v10"], "v3", "v2"),
        (["v03"], "v4", None),
    ],
)
def test_the_previous_version_is_the_newest_version_tag_before_it(hub, repo_id, tags, version, previous):
    """Only tags that are versions (``v`` and a number without a leading zero: config/names.py) are versions."""
    from huggingface_hub import HfApi

    from kwanzaa_hub.hub.records import previous_version

    api = HfApi()
    api.create_repo(repo_id, private=True)
    for tag in tags:
        api.create_tag(repo_id, tag=tag)
    assert previous_version(repo_id, version) == previous


def test_version_numbers_follow_the_one_rule_of_version_tags():
    from kwanzaa_hub.config.names import version_number, version_problem

    assert [version_number(t) for t in ("v1", "v10", "v03", "v0", "V2", "v1.5", "latest", "v2\n")] == [
        1,
        10,
        None,
        None,
        None,
        None,
        None,
        None,
    ]
    assert version_problem("v03") is not None and version_problem("v3") is None
