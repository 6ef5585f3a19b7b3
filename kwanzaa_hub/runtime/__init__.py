"""The model at run time: hardware plan, model and tokenizer loading, chat rendering, batched generation."""
