"""What every part of the local target shares: the environment, its layout and releases, the
settings it runs with, and the supervisord that runs it."""

from __future__ import annotations

from sreplat.config import Environment
from sreplat.targets.local import programs, settings
from sreplat.targets.local.layout import Layout
from sreplat.targets.local.settings import LocalSettings
from sreplat.tools.local.release_dirs import ReleaseDir, ReleaseDirs
from sreplat.tools.local.supervisor import Supervisor


class LocalContext:
    def __init__(self, env: Environment):
        if not isinstance(env.settings, LocalSettings):
            raise TypeError("LocalTarget needs LocalSettings")
        self.env = env
        self.configured: LocalSettings = env.settings
        self.layout = Layout(env.state_dir)
        self.release_dirs = ReleaseDirs(self.layout.releases_dir)
        # What runs now: the settings recorded at bootstrap, which win over a changed config for
        # status, deploy and destroy (they must talk to the ports actually in use).
        self.live: LocalSettings = settings.recorded(self.layout, self.configured) or self.configured
        self.supervisor = self._supervisor_for(self.live)

    def adopt_configured(self) -> None:
        """Run with the configured settings from now on (bootstrap writes them)."""
        self.live = self.configured
        self.supervisor = self._supervisor_for(self.configured)

    def _supervisor_for(self, settings: LocalSettings) -> Supervisor:
        return Supervisor(
            programs.supervisor_config(
                self.layout,
                settings,
                identifier=f"sreplat-{self.env.name}",
                python_path=self.release_dirs.python_path,
            )
        )

    def differences(self) -> list[str]:
        """Shaping settings that differ between what runs and what is configured."""
        return settings.differences(self.live, self.configured)

    def redis_url(self) -> str:
        return programs.redis_url(self.live)

    def api_url(self) -> str:
        return programs.api_url(self.live)

    def worker_names(self) -> list[str]:
        return programs.worker_names(self.live)

    def current_dir(self) -> ReleaseDir | None:
        """The release dir ``current`` points at, None when there is none (or it is gone)."""
        current = self.release_dirs.current()
        return self.release_dirs.get(current) if current and self.release_dirs.has(current) else None
