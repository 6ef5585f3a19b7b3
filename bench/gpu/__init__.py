"""The parts of the GPU benchmark; ``bench/bench_gpu.py`` is its command line and says what it measures.

One job a module: ``data`` (the team's token lengths as random samples, padding), ``models`` (the random
Llama-3.2-1B-shaped model, and LoRA on it through the train stage's functions), ``machine`` (the forced T4 plan,
the device, memory and timing), ``variants`` (the overrides of params.yaml and the order of the runs), ``train``
(one training run and its worst-case step), ``generation`` (batched eval generation) and ``report`` (the JSON and
its table).
"""
