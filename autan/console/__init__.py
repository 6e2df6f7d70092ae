"""The web console: static pages served at ``/console``, a client of the public HTTP API."""
