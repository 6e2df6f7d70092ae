"""Which models are served, under which names, and where their weights are."""
