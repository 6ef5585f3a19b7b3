"""The eval's request schemas leave unpinned what the decoding tokenizer cannot write as plain text (issue 38.3)."""

from __future__ import annotations

import copy
import json


def test_the_evals_request_schemas_never_pin_a_special_token_of_the_decoding_tokenizer(tiny_tokenizer):
    """A special token whose text is not shaped like one (``@@end@@``, which the generic ``<|…|>`` guard misses) is
    never pinned as a title: the eval, like `ask`, passes its tokenizer's special-token texts; a plain title is."""
    from kwanzaa_hub.contract import decoding_schema
    from kwanzaa_hub.contract.documents import from_dicts
    from kwanzaa_hub.serve.ask import messages
    from kwanzaa_hub.stages.eval import request_schemas

    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": ["@@end@@"]})
    doc = {"content": "Kwanzaa was created in 1966.", "url": "https://example.org/k", "relevance_score": 0.9}
    prompts = [messages("When?", from_dicts([{**doc, "title": title}])) for title in ("Umoja @@end@@", "Umoja day")]
    odd, plain = (json.dumps(s) for s in request_schemas(decoding_schema.build({}), prompts, tokenizer).schemas)
    assert "Umoja day" in plain
    assert "@@end@@" not in odd and "https://example.org/k" in odd  # only the field holding the token is unpinned
