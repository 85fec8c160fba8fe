"""sreplat: stand up and run a small production platform on Google Cloud from one CLI."""

__version__ = "0.1.0"
