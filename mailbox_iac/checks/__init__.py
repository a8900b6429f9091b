"""Checks of a mailbox's outside world, one module per protocol; `catalog.py` lists them and where each runs."""
