"""The Kubernetes API: calls under a deadline, workload status, rollouts, certificates."""
