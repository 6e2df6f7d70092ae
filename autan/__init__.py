"""autan: the Mistral API served from your own machine."""

__version__ = "0.1.0"
