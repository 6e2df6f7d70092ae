"""Chat: a chat request becomes prompt tokens and sampling parameters; outputs become replies."""
