"""Provider-free parts of a module, evaluated by the real ``terraform``.

No provider can be downloaded here, but files that use only built-in functions and resources
(``variables.tf``, ``locals``, ``terraform_data``) form a root module terraform can plan and
apply offline. Tests copy such files next to an outputs file of their own and read the values
terraform computes: the strings the real module would send, not a re-implementation of them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sreplat.tools.terraform.driver import Terraform
from tests.terraform.hcl import TERRAFORM_DIR


class ScratchRoot:
    def __init__(self, workdir: Path, module: str, files: tuple[str, ...], outputs: dict[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        for name in files:
            shutil.copy(TERRAFORM_DIR / module / name, workdir / name)
        (workdir / "scratch_outputs.tf").write_text(
            "".join(f'output "{name}" {{\n  value = {expr}\n}}\n' for name, expr in outputs.items())
        )
        cli_config = workdir / "terraformrc"
        cli_config.write_text("")
        env = {"TF_DATA_DIR": str(workdir / ".tfdata"), "TF_CLI_CONFIG_FILE": str(cli_config)}
        self.workdir = workdir
        self.tf = Terraform(workdir, env=env)
        self.tf.init()

    def apply(self, variables: dict[str, Any]) -> dict[str, Any]:
        """Plan and apply with ``variables`` (state stays in the scratch dir); the outputs."""
        plan = self.tf.plan(self.workdir / "scratch.tfplan", variables)
        self.tf.apply(plan.plan_path)
        return self.tf.output()

    def destroy(self, variables: dict[str, Any]) -> None:
        self.tf.destroy(variables)
