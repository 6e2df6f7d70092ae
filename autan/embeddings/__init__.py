"""Text embeddings: the model, the output formats and the service the router calls."""
