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
    # a batch steps until its longest row stops: one batch of 4, or four batches of 1
    assert batched.steps == max(batched.token_counts) and single.steps == sum(single.token_counts)


def test_the_cost_of_constraints_is_reported_per_token_and_per_decoding_step():
    """Constrained rows that end early leave the batch stepping for the longest one: per token it looks dearer,
    per decoding step (what the mask costs) it is not."""
    from kwanzaa_hub.runtime.generate import Generations
    from kwanzaa_hub.stages.eval import Budget, eval_report

    free = Generations(["x"] * 2, new_tokens=1000, seconds=10.0, stop_reasons=["length"] * 2, steps=500)
    held = Generations(["x"] * 2, new_tokens=600, seconds=9.0, stop_reasons=["eot", "length"], steps=450)
    report = eval_report(Budget(500, 400, True), {"adapter": free, "adapter_constrained": held}, {})
    assert (report["adapter"]["ms_per_token"], report["adapter"]["ms_per_step"]) == (10.0, 20.0)
    assert (report["adapter_constrained"]["ms_per_token"], report["adapter_constrained"]["ms_per_step"]) == (15.0, 20.0)
    assert report["constrained_cost"] == {"adapter": 1.5} and report["constrained_cost_per_step"] == {"adapter": 1.0}


def test_the_progress_line_reads_in_seconds_per_sample_when_slow():
    from kwanzaa_hub.runtime.speed import rate_line

    assert rate_line(8, 8360, 209.0) == "26 s/sample, 40 tokens/s"  # a 2-core CPU eval: not "0.0 samples/s"
    assert rate_line(27, 5400, 9.0) == "3.0 samples/s, 600 tokens/s"
