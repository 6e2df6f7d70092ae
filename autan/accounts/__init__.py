"""API keys, workspaces, rate limits, the usage ledger and prices."""
