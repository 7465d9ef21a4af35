"""The fault harness (``make chaos``): real processes broken on purpose, every message counted.

Not part of the test run; see docs/RELIABILITY.md.
"""
