"""The model card links the project it was made in (its git remote), never this project's own repo by default, and
never a user name or token a clone URL may hold."""

import subprocess

import pytest

from kwanzaa_hub.hub.card import project_url


@pytest.mark.parametrize(
    "remote, url",
    [
        ("https://github.com/my-team/kwanzaa_hub.git", "https://github.com/my-team/kwanzaa_hub"),
        ("git@github.com:my-team/kwanzaa_hub.git", "https://github.com/my-team/kwanzaa_hub"),
        ("https://me:hf_secret123@github.com/my-team/kwanzaa_hub", "https://github.com/my-team/kwanzaa_hub"),
        ("ssh://git@gitlab.example.org:2222/team/kh.git", "https://gitlab.example.org/team/kh"),
        ("https://github.com/o/r?access_token=hf_secret123#frag", "https://github.com/o/r"),
        ("https://me:p@ss@github.com/o/r.git", "https://github.com/o/r"),
        ("/srv/git/kwanzaa_hub", ""),
        (None, ""),
    ],
)
def test_the_card_links_the_projects_own_remote_without_credentials(tmp_path, remote, url):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    if remote:
        subprocess.run(["git", "remote", "add", "origin", remote], cwd=tmp_path, check=True)
    assert project_url(tmp_path) == url
