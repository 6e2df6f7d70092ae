"""Chat: turns a chat request into prompt tokens and sampling parameters, and outputs into replies."""
