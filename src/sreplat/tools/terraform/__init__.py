"""The terraform binary: the driver and its machine-readable events."""
