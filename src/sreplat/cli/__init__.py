"""The command line: ``main.py`` (Typer wiring), ``options.py`` (global options),
``session.py`` (the shared run sequence and the error translator), ``lifecycle.py``
(bootstrap/deploy/destroy/plan), ``inspect.py`` (status/doctor/version), ``runlog.py``."""
