"""The kernel every other part of the bot depends on: the clock, messages, the config, the
dispatcher, text as people write it, and the small protocols handlers and models type against.
It imports nothing else from the project (tests/test_layers.py)."""
