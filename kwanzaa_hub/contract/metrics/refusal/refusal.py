"""Refusal recall, false refusal rate and accuracy (see scoring.refusal)."""

import evaluate

from kwanzaa_hub.contract.metrics import metric_info, scoring


class Refusal(evaluate.Metric):
    def _info(self):
        return metric_info(scoring.refusal, "predictions, references: assistant messages")

    def _compute(self, predictions, references=None):
        return scoring.refusal(predictions, references)
