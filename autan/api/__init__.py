"""HTTP: one router per resource, SSE, the auth hook and the one error handler."""
