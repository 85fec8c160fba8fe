"""Helm releases through the Helm v4 SDK (helm_python): the release manager and its parts."""
