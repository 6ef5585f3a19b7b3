"""The DVC stages, one module each (data, train, eval, push): thin orchestrators over the building blocks.

Stages never import each other."""
