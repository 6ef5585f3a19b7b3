"""Writing files safely: atomic, all-or-nothing writes, and proof of ownership before anything is replaced."""
