"""The settings that shape what a local environment runs (ports, process counts): recorded at
bootstrap, and compared with the configuration on every later run."""

from __future__ import annotations

import hashlib
import json

from sreplat.config import LocalSettings
from sreplat.targets.local.layout import Layout, write_if_changed

# Settings that shape what runs; changing one needs a destroy (or another environment).
SHAPING = ("api_host", "api_port", "redis_port", "worker_metrics_port", "workers", "api_workers")


def fingerprint(settings: LocalSettings) -> str:
    """Changes when a shaping setting does (a bootstrap checkpoint is then not resumed)."""
    return hashlib.sha256(json.dumps([getattr(settings, k) for k in SHAPING]).encode()).hexdigest()[:16]


def recorded(layout: Layout, configured: LocalSettings) -> LocalSettings | None:
    """``configured`` with the shaping settings recorded at bootstrap; None when there are none."""
    try:
        data = json.loads(layout.recorded_settings.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    try:
        return configured.model_copy(update={k: data[k] for k in SHAPING if k in data})
    except (TypeError, ValueError):
        return None


def record(layout: Layout, settings: LocalSettings) -> bool:
    """Record the shaping settings; True when the record changed."""
    values = {k: getattr(settings, k) for k in SHAPING}
    return write_if_changed(layout.recorded_settings, json.dumps(values, indent=1) + "\n")


def differences(live: LocalSettings, configured: LocalSettings) -> list[str]:
    """``key live → configured`` for every shaping setting that differs."""
    return [
        f"{key} {getattr(live, key)} → {getattr(configured, key)}"
        for key in SHAPING
        if getattr(live, key) != getattr(configured, key)
    ]
