"""The kwanzaa.answer.v1 contract: the answer model and its parsing, the prompt format, the decoding schema derived
from the answer model, the metrics that score answers and their registry.

No torch and no Hub client here: the contract is what every layer agrees on."""
