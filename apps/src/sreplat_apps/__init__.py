"""sreplat's bundled apps: the Flask API (``sreplat_apps.api``) and the RQ worker (``sreplat_apps.worker``).

Kept free of imports on purpose: the gunicorn master imports this package (to reach
``sreplat_apps.boot``) and must not pull application code in, so that a SIGHUP reload gives new
workers fresh code from ``sys.path``.
"""

__version__ = "0.1.0"
