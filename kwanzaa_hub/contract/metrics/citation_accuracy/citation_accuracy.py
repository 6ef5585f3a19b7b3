"""Citation precision/recall/F1 and source URL validity (see scoring.citation_accuracy)."""

import evaluate

from kwanzaa_hub.contract.metrics import metric_info, scoring


class CitationAccuracy(evaluate.Metric):
    def _info(self):
        return metric_info(
            scoring.citation_accuracy,
            "predictions, references: assistant messages; prompts: user messages with the retrieved documents",
        )

    def _compute(self, predictions, references=None, prompts=None):
        return scoring.citation_accuracy(predictions, references, prompts)
