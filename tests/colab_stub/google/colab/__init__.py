"""Stand-in for Colab's package in the notebook test (see ../../README.md)."""
