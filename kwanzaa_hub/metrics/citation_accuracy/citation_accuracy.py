"""Citation precision/recall/F1 and source URL validity (see scoring.citation_accuracy)."""

import datasets
import evaluate

from kwanzaa_hub.metrics import scoring

_DESCRIPTION = scoring.citation_accuracy.__doc__


class CitationAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description="predictions, references: assistant messages; prompts: user messages with the retrieved documents",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references=None, prompts=None):
        return scoring.citation_accuracy(predictions, references, prompts)
