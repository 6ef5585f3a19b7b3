"""Every metric of :data:`kwanzaa_hub.contract.metrics.specs.SPECS` as one ``evaluate`` module (see suite.score)."""

import datasets
import evaluate

from kwanzaa_hub.contract.metrics import suite


class AnswerQuality(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=suite.score.__doc__,
            citation="",
            inputs_description=(
                "predictions, references: assistant messages; prompts: user messages with the retrieved documents; "
                "stop_reasons (optional), threshold, team_schema (optional)"
            ),
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references=None, prompts=None, stop_reasons=None, threshold=0.5, team_schema=None):
        return suite.score(
            predictions, references, prompts, stop_reasons=stop_reasons, threshold=threshold, team_schema=team_schema
        )
