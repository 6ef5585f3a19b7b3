"""kwanzaa_hub: a reproducible QLoRA pipeline (data -> train -> eval -> push) for the Kwanzaa answer contract."""

__version__ = "0.1.0"
