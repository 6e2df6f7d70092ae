"""What autan shows of itself: Prometheus metrics (``metrics``) and OpenTelemetry traces
(``tracing``). Nothing here records a prompt unless the user asked for it."""
