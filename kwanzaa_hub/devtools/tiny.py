"""A tiny random Llama with an in-process BPE tokenizer whose chat template is the Llama 3.x format.

Used by the tests and by the offline demo: it has the header tokens (``<|start_header_id|>`` ...),
``<|eot_id|>`` end of turn, the ``Cutting Knowledge Date`` / ``Today Date`` lines (``date_string``
pinned or today's date), content trimmed, and *no* ``{% generation %}`` markers, like the real
Llama 3.2 Instruct template. Vocabulary and weights are deterministic for a given corpus and seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|finetune_right_pad_id|>",
]

# The Llama 3.x pre-tokenizer split (digits in groups of three, newlines kept apart from text).
LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

LLAMA3_CHAT_TEMPLATE = """{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""


def build_tokenizer(texts: Iterable[str], vocab_size: int = 2048):
    """Train a byte-level BPE with the Llama 3 split and wrap it as a fast tokenizer with the template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    header_words = [
        "<|start_header_id|>system<|end_header_id|> user assistant Cutting Knowledge Date: December 2023 Today Date:"
    ]
    tok.train_from_iterator(list(texts) + header_words * 20, trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    # Like Llama 3.2 Instruct: eos is <|eot_id|>, and there is no pad token.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        chat_template=LLAMA3_CHAT_TEMPLATE,
        model_max_length=131072,
    )


def build_tiny_llama(
    out_dir: str | Path,
    texts: Iterable[str] | None = None,
    *,
    seed: int = 0,
    vocab_size: int = 2048,
    hidden_size: int = 64,
    layers: int = 2,
) -> Path:
    """Write a tiny random ``LlamaForCausalLM`` + tokenizer to ``out_dir``; returns the directory."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from kwanzaa_hub.runtime.progress import no_loading_bars

    if texts is None:
        from kwanzaa_hub.devtools.example_data import corpus

        texts = corpus()
    out = Path(out_dir)
    tok = build_tokenizer(texts, vocab_size=vocab_size)
    eot, eos = tok.convert_tokens_to_ids(["<|eot_id|>", "<|end_of_text|>"])
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=[eos, eot],
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=[eos, eot])
    with no_loading_bars():  # a "Writing model shards" bar for one small file, the demo's first console line
        model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
