"""A stand-in for La Plateforme and for a fast OpenAI-compatible upstream, run as its own process.

    python -m tests.standin.platform --port 9001 [--tokens 16] [--delay-ms 0]

Tests start it with :func:`tests.standin.process.running_platform`; faults are set through
``POST /_standin/behaviour`` and the requests it received read back from ``GET /_standin/requests``.
"""
