"""Two pushes of one version at once, against the loopback Hub: whatever the interleaving, ``main`` and the tag end
on the same commit and nothing of the push that lost is on ``main`` (issue 38.4)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kwanzaa_hub.hub import publish
from kwanzaa_hub.hub import versions as hub_versions
from kwanzaa_hub.hub.client import VersionConflict
from tests.helpers import FAST

COMMIT = r"/api/models/.*/commit/"
TAG = r"/api/models/.*/tag/"


def payload(root: Path, name: str, version: str = "v2") -> dict[str, Path]:
    """A version's files: an adapter whose bytes say ``name`` and the params that name ``version``."""
    d = root / name
    d.mkdir()
    (d / "adapter_model.safetensors").write_bytes(f"weights of {name}".encode() * 64)
    (d / "params.yaml").write_text(f"hub:\n  version: {version}\n", encoding="utf-8")
    return {"adapter_model.safetensors": d / "adapter_model.safetensors", "params.yaml": d / "params.yaml"}


def push(repo_id: str, files: dict[str, Path], title: str, outcome: dict) -> None:
    try:
        outcome["result"] = publish.push_version(repo_id, "v2", files, message=title, retry=FAST)
    except Exception as exc:  # the loser's error, checked by the test
        outcome["error"] = exc


def in_background(repo_id: str, files: dict[str, Path], title: str) -> tuple[threading.Thread, dict]:
    outcome: dict = {}
    thread = threading.Thread(target=push, args=(repo_id, files, title, outcome), daemon=True)
    thread.start()
    return thread, outcome


def assert_consistent(repo_id: str, winner: dict[str, Path], loser_title: str) -> None:
    """main and the tag v2 are one commit, holding the winner's files; no commit on main is the loser's."""
    from huggingface_hub import HfApi

    api = HfApi()
    refs = api.list_repo_refs(repo_id)
    main = next(b.target_commit for b in refs.branches if b.name == "main")
    assert {t.name: t.target_commit for t in refs.tags} == {"v2": main}
    on_main = hub_versions.read_json(repo_id, hub_versions.MANIFEST, main)
    assert on_main == hub_versions.build_manifest(winner)
    assert loser_title not in [c.title for c in api.list_repo_commits(repo_id, revision="main")]


@pytest.fixture
def repo(hub, repo_id):
    from huggingface_hub import HfApi

    HfApi().create_repo(repo_id, private=True)
    return repo_id


def test_a_push_whose_commit_lost_the_race_to_a_tagged_push_of_its_version_commits_nothing(hub, repo, tmp_path):
    """B reads main, then A commits and tags v2, then B's commit arrives on a stale parent (412): B stops with a
    conflict instead of committing on top of A."""
    a, b = payload(tmp_path, "a"), payload(tmp_path, "b")
    held = hub.inject("POST", COMMIT, action="hold", times=1)
    thread, outcome_b = in_background(repo, b, "v2: push b")
    assert held.arrived.wait(30), "push b never committed"
    won = publish.push_version(repo, "v2", a, message="v2: push a", retry=FAST)
    held.release.set()
    thread.join(60)
    assert isinstance(outcome_b.get("error"), VersionConflict), outcome_b
    assert "v2" in str(outcome_b["error"]) and won.commit[:12] in str(outcome_b["error"])
    assert_consistent(repo, a, "v2: push b")


def test_a_push_that_finds_its_version_committed_but_not_yet_tagged_commits_nothing(hub, repo, tmp_path):
    """A has committed v2 and its tag is on the way; B starts then: B stops with a conflict, A's tag lands."""
    a, b = payload(tmp_path, "a"), payload(tmp_path, "b")
    held = hub.inject("POST", TAG, action="hold", times=1)
    thread, outcome_a = in_background(repo, a, "v2: push a")
    assert held.arrived.wait(30), "push a never tagged"
    with pytest.raises(VersionConflict, match="not tagged yet"):
        publish.push_version(repo, "v2", b, message="v2: push b", retry=FAST)
    held.release.set()
    thread.join(60)
    assert outcome_a.get("result") is not None and not outcome_a["result"].noop, outcome_a
    assert_consistent(repo, a, "v2: push b")


def test_the_same_files_pushed_twice_at_once_are_one_version_and_both_pushes_succeed(hub, repo, tmp_path):
    a = payload(tmp_path, "a")
    held = hub.inject("POST", TAG, action="hold", times=1)
    thread, first = in_background(repo, a, "v2: first")
    assert held.arrived.wait(30)
    second = publish.push_version(repo, "v2", a, message="v2: second", retry=FAST)
    held.release.set()
    thread.join(60)
    assert first["result"].commit == second.commit
    assert_consistent(repo, a, "v2: second")


def test_two_pushes_of_one_version_started_together_leave_main_and_the_tag_on_one_commit(hub, repo, tmp_path):
    files = {"a": payload(tmp_path, "a"), "b": payload(tmp_path, "b")}
    started = [in_background(repo, files[n], f"v2: push {n}") for n in ("a", "b")]
    for thread, _ in started:
        thread.join(120)
    outcomes = {n: o for n, (_, o) in zip("ab", started, strict=True)}
    winners = [n for n, o in outcomes.items() if "result" in o]
    assert len(winners) == 1, outcomes
    loser = "b" if winners == ["a"] else "a"
    assert isinstance(outcomes[loser].get("error"), VersionConflict), outcomes
    assert_consistent(repo, files[winners[0]], f"v2: push {loser}")
