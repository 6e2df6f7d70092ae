"""Durable jobs: rows with a state machine, claimed and run by a ``JobRunner``."""
