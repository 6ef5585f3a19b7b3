"""Format compliance: valid JSON that validates against kwanzaa.answer.v1 (see scoring.format_compliance)."""

import datasets
import evaluate

from kwanzaa_hub.metrics import scoring

_DESCRIPTION = scoring.format_compliance.__doc__


class FormatCompliance(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions: generated assistant messages",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references=None):
        return scoring.format_compliance(predictions)
