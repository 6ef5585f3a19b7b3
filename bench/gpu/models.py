"""The benchmark's model: a random Llama-3.2-1B-shaped model (no download), and LoRA on it as the train stage
builds it."""

from __future__ import annotations

from typing import Any

# meta-llama/Llama-3.2-1B-Instruct's architecture; "tiny" is for the CPU test.
SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": {
        "vocab_size": 128256,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
        },
        "bos_token_id": 128000,
        "eos_token_id": 128009,
    },
    "tiny": {
        "vocab_size": 2048,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
}
SHAPE_OF_ARG = {"real": "llama-3.2-1b", "tiny": "tiny"}  # --shape -> a key of SHAPES


def build_random_model(shape: dict[str, Any], dtype: Any, device: str) -> Any:
    """A random-weight Llama of that shape, built directly on the device (fixed seed)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(hidden_act="silu", **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    # no end-of-sequence: every generated row runs to max_new_tokens, so token counts are exact
    model.generation_config.eos_token_id = None
    return model.eval()


def build_model(params: Any, plan: Any) -> Any:
    """The train stage's model for LoRA (4-bit per ``train.quantization``, k-bit prepared) with its LoRA config,
    re-seeded so every run starts from the same adapter weights."""
    import torch
    from peft import get_peft_model

    from kwanzaa_hub.runtime import qlora

    model = qlora.model_for_lora(params, plan)
    torch.manual_seed(params.train.seed)
    return get_peft_model(model, qlora.lora_config(params))
