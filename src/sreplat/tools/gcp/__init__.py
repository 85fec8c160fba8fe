"""Adapters to Google Cloud APIs (storage, GKE, Cloud DNS, Cloud Build, Compute, Monitoring)."""
