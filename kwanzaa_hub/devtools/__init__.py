"""Tools for development and demos: the tiny local Llama, the example dataset, demo project copies."""
