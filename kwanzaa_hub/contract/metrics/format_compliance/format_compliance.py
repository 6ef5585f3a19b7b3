"""Format compliance: valid JSON that validates against kwanzaa.answer.v1 (see scoring.format_compliance)."""

import evaluate

from kwanzaa_hub.contract.metrics import metric_info, scoring


class FormatCompliance(evaluate.Metric):
    def _info(self):
        return metric_info(scoring.format_compliance, "predictions: generated assistant messages")

    def _compute(self, predictions, references=None):
        return scoring.format_compliance(predictions)
