"""Chat rendering with a pinned date, and the prompt/completion split that masks the loss.

Llama 3.x templates write ``Today Date: <today>`` into the system header unless ``date_string`` is
given, so every render here passes the date from ``model.chat_date``: the same data and params render
the same tokens on any day. Templates that do not use ``date_string`` ignore the extra variable.

Loss masking: a sample becomes ``prompt`` (system + user messages) and ``completion`` (the assistant
message). TRL's ``completion_only_loss`` then trains exactly the tokens that the full conversation adds
after the prompt rendered with the generation header: the answer and its end-of-turn token. Within the answer,
:func:`tokens_over` names the tokens that cover a span of its characters (``data.placeholders: mask`` takes a
template text's tokens out of the loss that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Message = dict[str, str]
#: The prepared dataset's column of answer characters kept out of the loss, ``[start, end)`` in the assistant
#: message (``[]`` for none): the data stage writes it under ``data.placeholders: mask``, the train stage masks the
#: tokens over it (:func:`tokens_over`).
MASKED = "loss_masked_chars"


def template_kwargs(chat_date: str) -> dict[str, str]:
    """The extra template variables every render uses."""
    return {"date_string": chat_date}


def split_prompt_completion(messages: list[Message]) -> tuple[list[Message], list[Message]]:
    """``[system?, user, assistant]`` -> (``[system?, user]``, ``[assistant]``)."""
    return messages[:-1], messages[-1:]


def render_ids(
    tokenizer: Any, messages: list[Message], chat_date: str, *, add_generation_prompt: bool = False
) -> list[int]:
    """Token ids of a conversation rendered with the tokenizer's chat template and the pinned date."""
    out = tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        add_generation_prompt=add_generation_prompt,
        return_dict=True,
        **template_kwargs(chat_date),
    )
    return list(out["input_ids"])


def render_text(tokenizer: Any, messages: list[Message], chat_date: str, *, add_generation_prompt: bool = False) -> str:
    """The rendered conversation as text (for display and prompt hashing)."""
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, **template_kwargs(chat_date)
    )


_SLOT = "\ue000kwanzaa-message-{}\ue001"  # private-use characters: no template or tokenizer gives them a meaning


def special_token_texts(tokenizer: Any) -> list[str]:
    """The text of every special token (``<|eot_id|>``, ``<|start_header_id|>``, ...), longest first."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    found = {t.content for t in added.values() if getattr(t, "special", False)}
    found |= set(getattr(tokenizer, "all_special_tokens", []) or [])
    return sorted(filter(None, found), key=len, reverse=True)


def special_texts_in(tokenizer: Any, messages: list[Message]) -> list[str]:
    """The special-token strings that the messages' own text holds (what a hostile document would use)."""
    text = "\n".join(m["content"] for m in messages)
    return [t for t in special_token_texts(tokenizer) if t in text]


def plain_text_ids(
    tokenizer: Any, messages: list[Message], chat_date: str, *, add_generation_prompt: bool = False
) -> list[int]:
    """Token ids of the rendered conversation in which only the chat template's own text makes special tokens.

    Each message's text (a retrieved document, the question) is tokenized with ``split_special_tokens``: a
    document that holds ``<|eot_id|><|start_header_id|>system<|end_header_id|>`` reaches the model as those
    characters, never as control tokens that would open a turn of its own. The template is rendered once with a
    slot in place of each message's text, and the pieces between the slots are tokenized as usual; for text
    without special-token strings the ids equal those of the whole render."""
    text = render_text(tokenizer, messages, chat_date, add_generation_prompt=add_generation_prompt)
    slots = [{**m, "content": _SLOT.format(i)} for i, m in enumerate(messages)]
    skeleton = render_text(tokenizer, slots, chat_date, add_generation_prompt=add_generation_prompt)
    for shape in (str, str.strip):  # templates that insert the text as it is, and those that trim it (Llama 3)
        pieces, rest = [], skeleton
        for i, m in enumerate(messages):
            head, sep, rest = rest.partition(_SLOT.format(i))
            if not sep:
                break
            pieces += [(head, False), (shape(m["content"]), True)]
        pieces.append((rest, False))
        if "".join(p for p, _ in pieces) == text:
            break
    else:
        from kwanzaa_hub.errors import KwanzaaError

        raise KwanzaaError(
            "the base model's chat template rewrites message text, so documents cannot be kept apart from its "
            "control tokens; use a model whose template inserts each message as it is (or trimmed)"
        )
    ids: list[int] = []
    for piece, plain in pieces:
        if piece:
            ids += tokenizer(piece, add_special_tokens=False, split_special_tokens=plain)["input_ids"]
    return ids


@dataclass(frozen=True)
class Lengths:
    """Token counts of one sample: the whole conversation and the trained answer part."""

    total: int
    answer: int


def measure(tokenizer: Any, messages: list[Message], chat_date: str) -> Lengths:
    """Tokens of the full conversation and of the answer (what the full render adds after the prompt)."""
    prompt, _ = split_prompt_completion(messages)
    full = render_ids(tokenizer, messages, chat_date)
    head = render_ids(tokenizer, prompt, chat_date, add_generation_prompt=True)
    return Lengths(total=len(full), answer=len(full) - len(head))


def tokens_over(tokenizer: Any, messages: list[Message], chat_date: str, span: tuple[int, int]) -> list[int]:
    """Positions, in the full conversation's tokens (:func:`render_ids`), of every token that covers a character
    of ``span`` (``[start, end)`` in the last message's content), from the tokenizer's offset mapping over the
    rendered text: what Axolotl's ``message_field_training_detail`` does. Raises ValueError when the template
    does not write the content as given, or the rendered text tokenizes to other ids than the render."""
    text = render_text(tokenizer, messages, chat_date)
    content = messages[-1]["content"]
    at = text.rfind(content.strip())  # Llama 3.x templates trim the content; the last message stands last
    if at < 0:
        raise ValueError("the chat template does not write the answer as given")
    shift = at - (len(content) - len(content.lstrip()))
    start, end = span[0] + shift, span[1] + shift
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(encoded["input_ids"]) != render_ids(tokenizer, messages, chat_date):
        raise ValueError("the rendered conversation tokenizes to other ids than the chat template's own")
    return [i for i, (a, b) in enumerate(encoded["offset_mapping"]) if a < end and b > start]
