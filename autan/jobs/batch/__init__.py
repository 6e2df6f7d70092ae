"""Batch jobs: many requests to one endpoint, run at low priority, answered into files."""
