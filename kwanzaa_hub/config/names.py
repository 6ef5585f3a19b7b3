"""The names the Hub gives things, as this tool accepts them: repo ids and version tags (one rule each, used by
the params, the Hub client, the base model reference and the Colab helper)."""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"v[1-9][0-9]*")  # matched with fullmatch: no trailing newline slips through
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` is not a Hub repo id of the form namespace/name (None when it is)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not REPO_ID.fullmatch(repo_id):
        return "must be 'namespace/name' (letters, digits, . _ -)"
    try:
        validate_repo_id(repo_id)  # the Hub's own rules: no '--' or '..', no '.git' ending, at most 96 characters
    except HFValidationError as exc:
        return str(exc)
    return None


def version_problem(version: str) -> str | None:
    """Why ``version`` is not a version tag ``v1``, ``v2``, ... (None when it is)."""
    return None if _VERSION_RE.fullmatch(version) else "must be 'v' followed by a positive integer (v1, v2, ...)"


def version_number(tag: str) -> int | None:
    """The number of the version tag ``tag`` (``v12`` -> 12), None for a tag that is not a version tag (``v03``,
    ``v1.5``, ``latest``): the order of versions, and which one comes before another, follow from this alone."""
    return int(tag[1:]) if version_problem(tag) is None else None
