"""Traces (OpenTelemetry), metrics (Prometheus, multiprocess) and trace-aware JSON logs."""
