"""Fill-in-the-middle: code completion between a prefix and a suffix."""
