"""What a process needs before any application code is imported: paths, JSON logging, launchers.

These modules import only the standard library (and gunicorn, for the API launcher). The
gunicorn master imports nothing else from ``sreplat_apps``, so a SIGHUP reload makes new workers
load the application (``sreplat_apps.api``, ``tasks``, ``telemetry``...) fresh from ``sys.path``.
"""
