"""Generation throughput of the eval stage: batched (left padding) vs one prompt at a time.

Same model, same prompts (the example eval split), same greedy settings, in one run. By default the model
is a small random Llama-3.x-format model built here (so it runs offline); pass --base for a real one.

    python bench/bench_generate.py [--base DIR] [--batch-size 8] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from kwanzaa_hub.devtools import example_data
from kwanzaa_hub.devtools.tiny import build_tiny_llama
from kwanzaa_hub.runtime.generate import generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="model directory (default: a random Llama, hidden 256, 4 layers)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    base = args.base or str(build_tiny_llama(tempfile.mkdtemp() + "/bench-base", hidden_size=256, layers=4))
    model = AutoModelForCausalLM.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base)
    prompts = [s["messages"][:-1] for s in example_data.build()[1]]
    kw = dict(chat_date="26 Jul 2024", max_new_tokens=args.max_new_tokens)
    generate(model, tok, prompts[:2], batch_size=2, **kw)  # warm-up
    single = generate(model, tok, prompts, batch_size=1, **kw)
    batched = generate(model, tok, prompts, batch_size=args.batch_size, **kw)
    result = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "model": args.base or "random Llama hidden 256, 4 layers",
        "prompts": len(prompts),
        "max_new_tokens": args.max_new_tokens,
        "one_at_a_time_tokens_per_s": round(single.tokens_per_s, 1),
        f"batched_{args.batch_size}_tokens_per_s": round(batched.tokens_per_s, 1),
        "speedup": round(batched.tokens_per_s / single.tokens_per_s, 2),
        "same_text": batched.texts == single.texts,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
