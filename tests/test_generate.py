def test_batched_generation_matches_one_at_a_time(tiny_model_dir, tiny_tokenizer, example_samples):
    """Left padding must not change greedy answers: batch of 4 == four single-prompt runs."""
    from transformers import AutoModelForCausalLM

    from kwanzaa_hub.generate import generate

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [s["messages"][:-1] for s in example_samples[1][:4]]
    batched = generate(model, tiny_tokenizer, prompts, chat_date="26 Jul 2024", max_new_tokens=12, batch_size=4)
    single = generate(model, tiny_tokenizer, prompts, chat_date="26 Jul 2024", max_new_tokens=12, batch_size=1)
    assert batched.texts == single.texts
    assert all(t for t in batched.texts)
    assert batched.new_tokens == single.new_tokens > 0
