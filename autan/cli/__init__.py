"""The ``autan`` command: serve, chat, models."""
