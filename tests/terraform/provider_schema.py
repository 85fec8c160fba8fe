"""A digest of the ``hashicorp/google`` provider schema, and the check of our HCL against it.

No provider can be downloaded on the machines this project is built on, so ``terraform
validate`` cannot run on the real modules. What can: the provider's schema, as generated into
the ``@cdktf/provider-google`` npm package (prebuilt bindings generated from
``terraform providers schema -json``). ``regenerate`` reads that package and writes, for the
resource types our modules use, only the argument and block names (and which are required) to
``tests/fixtures/terraform/google_provider_schema.json``; the HCL tests check every argument we
write against it. To refresh it (e.g. after using a new resource type)::

    cd "$(mktemp -d)" && npm pack @cdktf/provider-google@16.12.1 && tar xzf cdktf-provider-google-*.tgz
    .venv/bin/python -m tests.terraform.provider_schema "$PWD/package"

16.12.1 is generated from hashicorp/google 6.50.0, the last 6.x. We pin ``>= 7.0, < 8.0``: the
7.0 upgrade guide removes nothing we use (``google_compute_subnetwork.enable_flow_logs`` went;
we use ``log_config``), so a name that exists in 6.50 and is not deprecated is valid in 7.x.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DIGEST = REPO / "tests" / "fixtures" / "terraform" / "google_provider_schema.json"
TERRAFORM_DIR = REPO / "terraform"

# Arguments every resource or data block accepts (Terraform's meta-arguments).
META_ARGUMENTS = frozenset(
    {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
)

_FUNCTION = re.compile(r"^function (\w+)ToTerraform\(struct\) \{$(.*?)^\}$", re.M | re.S)
_RETURN_BODY = re.compile(r"return \{\n(.*?)\n\s*\};", re.S)
_SYNTH = re.compile(r"synthesizeAttributes\(\) \{\s*return \{\n(.*?)\n\s*\};", re.S)
_FIELD = re.compile(r"^\s+(\w+): (.*),$", re.M)
_CHILD = re.compile(r"(?<!cdktf\.)\b([a-z]\w*)ToTerraform\b")
_CAMEL = re.compile(r"(?:struct|this)\.(?:_)?(\w+)\b")
_RESOURCE_TYPE = re.compile(r'tfResourceType = "(\w+)"')
_DECL = re.compile(r"export declare function (\w+)ToTerraform\(struct\?: ([\w.| ]+)\): any;")
_INTERFACE = re.compile(r"export interface (\w+)(?: extends [\w.]+)? \{(.*?)^\}", re.M | re.S)
_MEMBER = re.compile(r"^\s+readonly (\w+)(\??):", re.M)


def _fields(body: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _FIELD.finditer(body)]


def _module_sources(resource_dir: Path) -> tuple[str, str]:
    js = [resource_dir / "index.js", *sorted((resource_dir / "index-structs").glob("*.js"))]
    dts = [resource_dir / "index.d.ts", *sorted((resource_dir / "index-structs").glob("*.d.ts"))]
    return _read(js), _read(dts)


def _read(paths: list[Path]) -> str:
    return "\n".join(p.read_text() for p in paths if p.exists())


def _digest_resource(resource_dir: Path) -> dict[str, Any]:
    js, dts = _module_sources(resource_dir)
    functions = {m.group(1): m.group(2) for m in _FUNCTION.finditer(js)}
    interfaces = {m.group(1): dict(_MEMBER.findall(m.group(2))) for m in _INTERFACE.finditer(dts)}
    # The declared argument type is a union (interface | OutputReference | IResolvable).
    struct_of = {
        m.group(1): next((t.strip() for t in m.group(2).split("|") if t.strip() in interfaces), None)
        for m in _DECL.finditer(dts)
    }

    def required(interface: str | None, camel: str | None) -> bool:
        members = interfaces.get(interface or "", {})
        return camel is not None and members.get(camel) == ""

    def describe(body: str, interface: str | None, depth: int) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        for name, value in _fields(body):
            camel = _CAMEL.search(value)
            child = _CHILD.search(value)
            entry: dict[str, Any] = {"required": required(interface, camel.group(1) if camel else None)}
            if child and child.group(1) in functions and depth < 16:
                inner = _RETURN_BODY.search(functions[child.group(1)])
                entry["block"] = describe(
                    inner.group(1) if inner else "", struct_of.get(child.group(1)), depth + 1
                )
            attrs[name] = entry
        return attrs

    top = _SYNTH.search(js)
    if top is None:
        raise ValueError(f"no synthesizeAttributes in {resource_dir}")
    config = next((name for name in interfaces if name.endswith("Config") and "extends" in dts), None)
    # The top-level Config interface is the one that extends TerraformMetaArguments.
    match = re.search(r"export interface (\w+Config) extends cdktf\.TerraformMetaArguments", dts)
    config = match.group(1) if match else config
    attrs = describe(top.group(1), config, 0)
    attrs.pop("id", None)  # computed for every resource; never set it
    return attrs


def used_types(root: Path = TERRAFORM_DIR) -> tuple[set[str], set[str]]:
    """Resource and data source types (google_*) referenced by the HCL under ``root``."""
    resources: set[str] = set()
    data: set[str] = set()
    for path in root.rglob("*.tf"):
        if ".terraform" in path.parts:
            continue
        text = path.read_text()
        resources |= set(re.findall(r'^resource "(google_\w+)"', text, re.M))
        data |= set(re.findall(r'^data "(google_\w+)"', text, re.M))
    return resources, data


def regenerate(package: Path, out: Path = DIGEST) -> dict[str, Any]:
    lib = package / "lib"
    by_type: dict[str, Path] = {}
    for index in lib.glob("*/index.js"):
        head = index.read_text()[:200_000]
        match = _RESOURCE_TYPE.search(head)
        if match:
            key = ("data." if index.parent.name.startswith("data-google-") else "") + match.group(1)
            by_type[key] = index.parent
    resources, data = used_types()
    wanted = sorted(resources) + [f"data.{d}" for d in sorted(data)]
    missing = [t for t in wanted if t not in by_type]
    if missing:
        raise SystemExit(f"not in the provider package: {', '.join(missing)}")
    meta = json.loads((package / "package.json").read_text())
    digest = {
        "source": f"{meta['name']} {meta['version']}",
        "provider": "hashicorp/google {}".format(meta["cdktf"]["provider"]["version"]),
        "types": {t: _digest_resource(by_type[t]) for t in wanted},
    }
    out.write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n")
    return digest


# --- checking HCL (as parsed by python-hcl2) against the digest ------------------------------
def _strip(name: str) -> str:
    # python-hcl2 keeps the quotes of quoted keys / labels.
    return name.strip('"')


def check_block(
    body: dict[str, Any], schema: dict[str, Any], where: str, *, top: bool = True
) -> Iterator[str]:
    """Yield one problem per unknown argument or missing required argument in ``body``.

    Meta-arguments (count, for_each, ...) exist only at the top of a resource: a nested block's
    ``count`` (e.g. a Cloud Armor rate_limit_threshold) is an ordinary argument."""
    present: set[str] = set()
    for raw_key, value in body.items():
        key = _strip(raw_key)
        if key.startswith("__") or (top and key in META_ARGUMENTS):
            continue
        if key == "dynamic":
            for block in value if isinstance(value, list) else [value]:
                for name, spec in block.items():
                    present.add(_strip(name))
                    yield from _check_child(_strip(name), spec.get("content", {}), schema, where)
            continue
        present.add(key)
        yield from _check_child(key, value, schema, where)
    for name, entry in schema.items():
        if entry.get("required") and name not in present:
            yield f"{where}: required argument {name!r} is missing"


def _check_child(key: str, value: Any, schema: dict[str, Any], where: str) -> Iterator[str]:
    if key not in schema:
        yield f"{where}: {key!r} is not an argument of the provider schema"
        return
    nested = schema[key].get("block")
    if nested is None:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, dict):
            yield from check_block(item, nested, f"{where}.{key}", top=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    digest = regenerate(Path(argv[1]))
    print(f"wrote {DIGEST} ({len(digest['types'])} types, {digest['provider']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
