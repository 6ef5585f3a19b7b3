"""Refusal recall, false refusal rate and accuracy (see scoring.refusal)."""

import datasets
import evaluate

from kwanzaa_hub.metrics import scoring

_DESCRIPTION = scoring.refusal.__doc__


class Refusal(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions, references: assistant messages",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references=None):
        return scoring.refusal(predictions, references)
