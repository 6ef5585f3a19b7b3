"""Colab Secrets, played by COLAB_STUB_SECRET_<NAME> environment variables."""

import os


class SecretNotFoundError(Exception):
    pass


class NotebookAccessError(Exception):
    pass


def get(name: str) -> str:
    value = os.environ.get(f"COLAB_STUB_SECRET_{name}")
    if value is None:
        raise SecretNotFoundError(f"Secret {name} does not exist.")
    if value == "<no-access>":
        raise NotebookAccessError(f"Notebook does not have access to secret {name}")
    return value
