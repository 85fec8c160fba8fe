"""Service level objectives: the SLO files (``slo/*.yaml``) and the Prometheus rules made from them.

Pure Python (pyyaml only), no I/O beyond reading the SLO files:

- ``model.load_slos(directory) -> tuple[Slo, ...]`` reads and checks every ``*.yaml`` there
  (schema: ``slo/README.md``); ``SloError`` (a ``ConfigError``, exit 2) names the file and field.
- ``rules.rule_groups(slos, RuleSettings(...)) -> tuple[RuleGroup, ...]``: per SLO, recording
  rules for the error ratio over every window the alerts need, the burn rate and the remaining
  error budget, and the SRE workbook's multi-window, multi-burn-rate alerts.
- ``render.prometheus_rules_file(groups) -> str``: a standard Prometheus rules file (the local
  target's Prometheus, ``promtool``); ``render.gmp_rules(groups, ...) -> dict``: the same groups
  as a Managed Service for Prometheus ``Rules`` resource; ``render.helm_values(groups)``: the
  groups as the platform chart's ``slo.ruleGroups`` value.
"""
