"""Grounded sentence rate and unsupported number rate (see scoring.grounding)."""

import evaluate

from kwanzaa_hub.contract.metrics import metric_info, scoring


class Grounding(evaluate.Metric):
    def _info(self):
        return metric_info(
            scoring.grounding,
            "predictions: assistant messages; prompts: user messages; threshold: support needed per sentence",
        )

    def _compute(self, predictions, references=None, prompts=None, threshold=0.5):
        return scoring.grounding(predictions, prompts, threshold=threshold)
