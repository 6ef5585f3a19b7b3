def test_batched_generation_matches_one_at_a_time(tiny_model_dir, tiny_tokenizer, example_samples):
    """Left padding must not change greedy answers: batch of 4 == four single-prompt runs."""
    from transformers import AutoModelForCausalLM

    from kwanzaa_hub.runtime.generate import generate

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [s["messages"][:-1] for s in example_samples[1][:4]]
    batched = generate(model, tiny_tokenizer, prompts, chat_date="26 Jul 2024", max_new_tokens=12, batch_size=4)
    single = generate(model, tiny_tokenizer, prompts, chat_date="26 Jul 2024", max_new_tokens=12, batch_size=1)
    assert batched.texts == single.texts
    assert all(t for t in batched.texts)
    assert batched.new_tokens == single.new_tokens > 0


def test_the_progress_line_reads_in_seconds_per_sample_when_slow():
    from kwanzaa_hub.stages.eval import speed

    assert speed(8, 8360, 209.0) == "26 s/sample, 40 tokens/s"  # a 2-core CPU eval: not "0.0 samples/s"
    assert speed(27, 5400, 9.0) == "3.0 samples/s, 600 tokens/s"
