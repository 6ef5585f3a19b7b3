"""Grounded sentence rate and unsupported number rate (see scoring.grounding)."""

import datasets
import evaluate

from kwanzaa_hub.metrics import scoring

_DESCRIPTION = scoring.grounding.__doc__


class Grounding(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions: assistant messages; prompts: user messages; threshold: support needed per sentence",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references=None, prompts=None, threshold=0.5):
        return scoring.grounding(predictions, prompts, threshold=threshold)
