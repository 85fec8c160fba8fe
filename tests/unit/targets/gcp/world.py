"""A whole Google Cloud, as far as one gcp environment can tell, for end-to-end tests of the
gcp target: every API sreplat calls is a double on a loopback port. The CLI reaches them through
the seams its session injects (``World.seams``: API endpoints, the public DNS resolver, where the
load balancer answers) plus what a user configures (``GOOGLE_OAUTH_ACCESS_TOKEN``,
``sreplat.toml``), so the real clients, the real Terraform (on the fixture stacks of
``tests/fixtures/terraform/gcp_stacks``) and the real Helm SDK (on the repository's charts) run.

What the doubles do between them, as GCP and GKE would:

- Terraform's state lives in the Cloud Storage double (the gcs backend); the fixture stacks
  create the DNS zone and record (Cloud DNS double) and the cluster (Container double), whose
  control plane is the Kubernetes double with both of GKE's doors: the IP endpoint (a throwaway
  cluster CA), closed to this machine as it is to anything outside the VPC without an authorized
  network, and the DNS-based endpoint (``gke-<uid>-<number>.<region>.gke.goog``) with a publicly
  trusted certificate (tests/support/public_pki.py), which is how sreplat gets in;
- Cloud Build builds from the source object in Cloud Storage and pushes into the Artifact
  Registry double;
- the Kubernetes double's controllers mark workloads ready, make the Ingress's load balancer
  appear in the Compute double (and go a few polls after the Ingress is deleted), and set the
  managed certificate's state;
- the load balancer double serves HTTPS for the API host with what the api Deployment runs;
- public DNS is a loopback DNS server answering for the API host; Managed Prometheus answers
  the queue queries.

``World.cli(*argv)`` runs the CLI in-process (``--output json``) and returns the exit code and
the JSON lines; ``World.command(*argv)`` is the argv that runs it in a subprocess with the same
seams (``tests.unit.targets.gcp.entry`` reads them from ``World.wiring_file``).

The load balancer and the DNS endpoint present certificates of the suite's stand-in public CA,
trusted through ``SSL_CERT_FILE`` like a real public CA; nothing hands sreplat a CA for them.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from sreplat.cli.main import main
from sreplat.targets import Seams
from sreplat.targets.gcp.seams import GcpSeams
from sreplat.tools.gcp.access import GcpEndpoints
from sreplat.tools.gcp.cloud_dns import public_resolver
from sreplat.tools.images.pipeline import Builder
from tests.doubles.artifact_registry import ArtifactRegistryDouble
from tests.doubles.base import DoubleServer, Request
from tests.doubles.cloud_logging import CloudLoggingDouble
from tests.doubles.cloudbuild import CloudBuildDouble
from tests.doubles.clouddns import CloudDnsDouble
from tests.doubles.compute import ComputeDouble
from tests.doubles.container import ContainerDouble, dns_endpoint_name
from tests.doubles.dns_server import DnsServer
from tests.doubles.gcs import StorageDouble
from tests.doubles.ingress import IngressDouble
from tests.doubles.kube import KubeDouble
from tests.doubles.kube_controllers import GkeControllers, WorkloadController
from tests.doubles.monitoring import MonitoringDouble
from tests.support import public_pki
from tests.support.git_repo import GitRepo
from tests.support.pinned_inputs import pinned_inputs
from tests.support.registry_images import RegistryWriter, layer
from tests.support.registry_server import RegistryServer

REPO_ROOT = Path(__file__).resolve().parents[4]
STACKS = REPO_ROOT / "tests" / "fixtures" / "terraform" / "gcp_stacks"
CHARTS = REPO_ROOT / "helm"
PROJECT = "acme-sre-dev"
REGION = "asia-south1"
ENV = "dev"
DOMAIN = "dev.acme.example"
API_HOST = f"api.{DOMAIN}"
BUCKET = f"{PROJECT}-sreplat-tfstate"
INGRESS_IP = "34.120.0.10"  # what the fixture foundation stack reserves
CLUSTER_DNS = dns_endpoint_name(PROJECT, REGION, f"sreplat-{ENV}")  # the control plane's DNS endpoint
# The second environment of promotion tests (same project and region: its repository is another
# repository of the same registry host, its cluster another Kubernetes double).
PROD = "prod"
PROD_DOMAIN = "prod.acme.example"
PROD_API_HOST = f"api.{PROD_DOMAIN}"
PROD_CLUSTER_DNS = dns_endpoint_name(PROJECT, REGION, f"sreplat-{PROD}")
TOKEN = "ya29.world-access-token"
WRITES = ("POST", "PUT", "PATCH", "DELETE")
DOCKERFILE = "FROM scratch AS api\nCOPY . /app\n\nFROM scratch AS worker\nCOPY . /app\n"
# The gcp bootstrap DAG the tests and benchmarks expect: step → the steps it waits for, in the
# order bootstrap and plan list the steps.
NEEDS: dict[str, list[str]] = {
    "state-bucket": [],
    "foundation": ["state-bucket"],
    "cluster": ["foundation"],
    "images": ["foundation"],
    "redis-image": ["foundation"],
    "namespace": ["cluster"],
    "platform": ["namespace", "foundation"],
    "redis": ["platform", "redis-image"],
    "api": ["redis", "images"],
    "worker": ["redis", "images"],
    "verify": ["api", "worker"],
    "record": ["verify"],
}
STEPS = list(NEEDS)
# GcpEndpoints field → the double serving it (World attribute).
ENDPOINTS = {
    "storage": "gcs",
    "container": "container",
    "dns": "clouddns",
    "compute": "compute",
    "artifact_registry": "registry",
    "cloudbuild": "cloudbuild",
    "monitoring": "monitoring",
    "logging": "logging",
}
SLO_NAMES = ("api-availability", "api-latency", "job-freshness")


def seams_from(wiring: dict[str, Any]) -> Seams:
    """The seams a wiring document (``World.wiring``) describes."""
    load_balancers: dict[str, str] = wiring["load_balancers"]
    control_planes: dict[str, str] = wiring["control_planes"]
    dns_host, _, dns_port = str(wiring["public_dns"]).partition(":")
    return Seams(
        gcp=GcpSeams(
            endpoints=GcpEndpoints(**wiring["endpoints"]),
            resolver=public_resolver([dns_host], port=int(dns_port)),
            # Traffic for the ingress address reaches the load balancer double; no other address
            # has one (as on the Internet, where nothing else answers for this host).
            load_balancer=lambda address: load_balancers.get(address, f"https://{address}"),
            # The cluster's DNS endpoint name reaches the Kubernetes double (nothing resolves
            # *.gke.goog here); the name stays the TLS server name the certificate is checked for.
            control_plane=lambda name: control_planes.get(name, f"https://{name}"),
            lock_renew_every_s=wiring.get("lock_renew_every_s"),
        )
    )


@dataclass(frozen=True)
class Run:
    code: int
    lines: list[dict[str, Any]]
    err: str

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == kind]

    @property
    def result(self) -> dict[str, Any]:
        results = self.events("result")
        assert results, f"no result line (exit {self.code}): {self.err[-2000:]}"
        return results[-1]

    def steps(self) -> dict[str, str]:
        """Step → status, from the step.finish events."""
        return {e["step"]: e["status"] for e in self.events("step.finish")}

    def window(self, step: str) -> tuple[float, float]:
        start = next(e["ts"] for e in self.events("step.start") if e.get("step") == step)
        finish = next(e["ts"] for e in self.events("step.finish") if e.get("step") == step)
        return float(start), float(finish)

    def checks(self) -> dict[str, dict[str, Any]]:
        return {c["check"]: c for c in self.events("check")}

    @property
    def error(self) -> dict[str, Any]:
        errors = self.events("error")
        assert errors, f"no error line (exit {self.code})"
        return errors[-1]


@dataclass
class World:
    root: Path
    gcs: StorageDouble
    container: ContainerDouble
    clouddns: CloudDnsDouble
    compute: ComputeDouble
    registry: ArtifactRegistryDouble
    cloudbuild: CloudBuildDouble
    monitoring: MonitoringDouble
    logging: CloudLoggingDouble
    kube: KubeDouble
    ingress: IngressDouble
    public_dns: DnsServer
    repo: GitRepo
    workloads: WorkloadController
    gke: GkeControllers
    capsys: pytest.CaptureFixture[str] | None
    settings: dict[str, Any] = field(default_factory=dict)
    wiring: dict[str, Any] = field(default_factory=dict)
    prod_kube: KubeDouble | None = None  # with open_world(prod=True)
    prod_settings: dict[str, Any] = field(default_factory=dict)
    docker_builder: Callable[[], Builder] | None = None  # in-process runs only (benchmarks)

    @property
    def doubles(self) -> list[DoubleServer]:
        return [
            self.gcs,
            self.container,
            self.clouddns,
            self.compute,
            self.registry,
            self.cloudbuild,
            self.monitoring,
            self.logging,
            self.kube,
            self.ingress,
            *([self.prod_kube] if self.prod_kube is not None else []),
        ]

    def slo_series(self, name: str, values: dict[str, float]) -> None:
        """Managed Prometheus answers ``name`` (a recorded SLO series) with one sample per SLO,
        labelled as the platform's Rules record them (GMP_GROUP_BY keeps these)."""
        scope = {
            "project_id": PROJECT,
            "location": REGION,
            "cluster": f"sreplat-{ENV}",
            "namespace": "sreplat",
        }
        self.monitoring.answers[name] = [
            ({**scope, "slo": slo, "service": "worker" if slo == "job-freshness" else "api"}, value)
            for slo, value in values.items()
        ]

    @property
    def project_dir(self) -> Path:
        return self.root / "project"

    @property
    def state_dir(self) -> Path:
        return Path(os.environ["SREPLAT_STATE_ROOT"]) / ENV

    @property
    def seams(self) -> Seams:
        seams = seams_from(self.wiring)
        gcp = seams.part("gcp", GcpSeams)
        if self.docker_builder is None or gcp is None:
            return seams
        return Seams(gcp=replace(gcp, docker_builder=self.docker_builder))

    @property
    def wiring_file(self) -> Path:
        return self.root / "wiring.json"

    def rewire(self, **endpoints: str) -> None:
        """Point some APIs elsewhere (e.g. at a closed port), in-process runs and subprocesses alike."""
        self.wiring.setdefault("endpoints", {}).update(endpoints)
        self.wiring_file.write_text(json.dumps(self.wiring))

    def command(self, *argv: str) -> list[str]:
        """The argv of a subprocess running the CLI with this world's seams (``--output json``)."""
        import sys

        entry = (
            f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r}); "
            "from tests.unit.targets.gcp.entry import run; sys.exit(run(sys.argv[1:]))"
        )
        return [sys.executable, "-c", entry, str(self.wiring_file), "--output", "json", "--env", ENV, *argv]

    def configure(self, **settings: Any) -> None:
        """(Re)write sreplat.toml's [environments.dev] with the defaults and ``settings``."""
        self.settings.update(settings)
        self._write_config()

    def configure_prod(self, **settings: Any) -> None:
        """(Re)write sreplat.toml's [environments.prod]: dev's settings but for the domain,
        then ``settings``."""
        self.prod_settings.update(settings)
        self._write_config()

    def _write_config(self) -> None:
        tables = {ENV: self.settings}
        if self.prod_kube is not None:
            tables[PROD] = {**self.settings, "domain": PROD_DOMAIN, **self.prod_settings}
        lines = []
        for name, values in tables.items():
            lines.append(f"[environments.{name}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        (self.project_dir / "sreplat.toml").write_text("\n".join(lines) + "\n")

    def cli(self, *argv: str, env: str | None = ENV) -> Run:
        """The CLI in this process (pytest's capsys captures its output); ``env`` None: no --env."""
        assert self.capsys is not None, "in-process runs need pytest's capsys"
        self.capsys.readouterr()
        chosen = ["--env", env] if env is not None else []
        code = main(["--output", "json", *chosen, *argv], seams=self.seams)
        captured = self.capsys.readouterr()
        lines = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
        return Run(code, lines, captured.err)

    # --- what the doubles hold ----------------------------------------------------------------
    def calls(self, *, writes_only: bool = False) -> list[tuple[str, Request]]:
        found = []
        for double in self.doubles:
            for request in double.calls():
                if not writes_only or request.method in WRITES:
                    found.append((double.name, request))
        return found

    def kube_writes(self) -> list[Request]:
        """Writes that change the cluster (server-side dry runs, as `helm diff` makes, change nothing)."""
        return [r for r in self.kube.calls() if r.method in WRITES and "dryRun" not in r.query]

    def reset_calls(self) -> None:
        for double in self.doubles:
            double.reset_calls()

    def state(self, stack: str) -> dict[str, Any] | None:
        stored = self.gcs.objects.get(BUCKET, {}).get(f"sreplat/{ENV}/{stack}/default.tfstate")
        return None if stored is None else json.loads(stored.data)

    def release_record(self, env: str = ENV) -> dict[str, Any] | None:
        stored = self.gcs.objects.get(BUCKET, {}).get(f"sreplat/{env}/release.json")
        return None if stored is None else json.loads(stored.data)

    def deployment_image(self, name: str, env: str = ENV) -> str:
        kube = self.prod_kube if env == PROD else self.kube
        assert kube is not None
        deployment = kube.get("Deployment", name, "sreplat")
        assert deployment is not None, f"no Deployment {name}"
        return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])

    def helm_revisions(self, release: str) -> list[tuple[int, str]]:
        """(revision, status) of the release, from Helm's storage Secrets in the cluster."""
        out = []
        for secret in self.kube.list("Secret", "sreplat"):
            labels = secret["metadata"].get("labels") or {}
            if labels.get("owner") == "helm" and labels.get("name") == release:
                out.append((int(labels["version"]), labels["status"]))
        return sorted(out)

    def commit(self, note: str) -> str:
        """A new commit changing the apps (so its images differ)."""
        return self.repo.commit({"apps/api/NOTE": note}, f"change: {note}")

    def head(self) -> str:
        return self.repo.git("rev-parse", "HEAD")


def _tls_for(ca: Any, *hosts: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@contextmanager
def open_world(
    root: Path,
    *,
    setenv: Callable[[str, str], None],
    capsys: pytest.CaptureFixture[str] | None = None,
    registry_upstream: str | None = None,
    prod: bool = False,
) -> Iterator[World]:
    """Start every double in ``root``, point the environment at them (``setenv``) and write the
    project's sreplat.toml; stop them all on the way out.

    ``registry_upstream``: the real registry (URL) holding Artifact Registry's images (copies by
    digest need real blobs); by default one of the world's own, started here. It also stands in
    for Docker Hub: the world's base-images.json pins a Redis image pushed to it, which bootstrap
    mirrors into the environment's repository. ``prod``: a second environment, ``prod`` (its own
    cluster, API host and repository; the rest of the doubles shared, as two environments of one
    project share them).
    """
    import trustme

    with contextlib.ExitStack() as owned:
        if registry_upstream is None:
            registry_upstream = owned.enter_context(RegistryServer(root / "artifact-registry-storage")).url
        yield from _world(root, setenv, capsys, registry_upstream, prod, trustme.CA())


def _kube(cluster_ca: Any, dns_name: str) -> KubeDouble:
    """A cluster's control plane: the IP endpoint (closed: master_authorized_networks is empty by
    default) and the DNS endpoint ``dns_name`` with a publicly trusted certificate."""
    return KubeDouble(
        tls=_tls_for(cluster_ca, "127.0.0.1"),
        sni={dns_name: public_pki.server_context(dns_name)},
        ip_endpoint_open=False,
        require_token=TOKEN,
    )


def _world(
    root: Path,
    setenv: Callable[[str, str], None],
    capsys: pytest.CaptureFixture[str] | None,
    registry_upstream: str,
    prod: bool,
    cluster_ca: Any,  # signs the IP endpoints' certificates only
) -> Iterator[World]:
    gcs = StorageDouble(project=PROJECT, require_token=TOKEN)
    registry = ArtifactRegistryDouble(require_token=TOKEN, upstream=registry_upstream)
    kube = _kube(cluster_ca, CLUSTER_DNS)
    prod_kube = _kube(cluster_ca, PROD_CLUSTER_DNS) if prod else None
    compute = ComputeDouble(require_token=TOKEN)
    container = ContainerDouble(require_token=TOKEN)
    clouddns = CloudDnsDouble(require_token=TOKEN)
    cloudbuild = CloudBuildDouble(storage=gcs, project=PROJECT, registry=registry, require_token=TOKEN)
    monitoring = MonitoringDouble(require_token=TOKEN)
    logging = CloudLoggingDouble(require_token=TOKEN)
    api_hosts = (API_HOST, PROD_API_HOST) if prod else (API_HOST,)
    ingress = IngressDouble(kube=kube, host=API_HOST, tls=public_pki.server_context(*api_hosts))
    doubles: list[DoubleServer] = [
        gcs,
        container,
        clouddns,
        compute,
        registry,
        cloudbuild,
        monitoring,
        logging,
        kube,
        ingress,
        *([prod_kube] if prod_kube is not None else []),
    ]
    for double in doubles:
        double.start()
    # The environments' repositories, which the real foundation stack creates (the fixture stack
    # does not model them): Artifact Registry takes pushes into existing repositories only, and
    # bootstrap's redis-image mirror may push before the first image build does.
    for env in (ENV, PROD) if prod else (ENV,):
        registry.add_repository(PROJECT, REGION, f"sreplat-{env}")
    public_dns = DnsServer().start()
    public_dns.add(API_HOST, INGRESS_IP)
    container.kube_endpoint = kube.host
    container.kube_ca_pem = cluster_ca.cert_pem.bytes().decode()
    if prod_kube is not None:
        public_dns.add(PROD_API_HOST, INGRESS_IP)
        container.kube_endpoints[f"sreplat-{PROD}"] = prod_kube.host
        ingress.add_host(PROD_API_HOST, prod_kube)
        prod_kube.reactors += [
            WorkloadController(),
            GkeControllers(
                compute=compute,
                project=PROJECT,
                zone=f"{REGION}-a",
                network=f"sreplat-{PROD}",
                addresses={f"sreplat-{PROD}-ingress": INGRESS_IP},
                teardown_polls=1,
            ),
        ]
    workloads = WorkloadController()
    gke = GkeControllers(
        compute=compute,
        project=PROJECT,
        zone=f"{REGION}-a",
        network=f"sreplat-{ENV}",
        addresses={f"sreplat-{ENV}-ingress": INGRESS_IP},
        teardown_polls=1,
    )
    kube.reactors += [workloads, gke]
    monitoring.answers.update(sreplat_queue_depth=0, sreplat_jobs_failed_total=0, sreplat_build_info=2)

    setenv("GOOGLE_OAUTH_ACCESS_TOKEN", TOKEN)

    upstream_redis = RegistryWriter(registry_upstream).image(
        "library/redis", "7.4-alpine", layers=[layer({"usr/local/bin/redis-server": b"redis"})]
    )
    redis_ref = f"{registry_upstream.removeprefix('http://')}/library/redis:7.4-alpine"
    repo = GitRepo(root / "repo")
    repo.commit(
        {
            "apps/Dockerfile": DOCKERFILE,
            **pinned_inputs(redis_ref=redis_ref, redis_digest=upstream_redis.digest),
        },
        "apps",
    )
    (root / "project").mkdir()
    world = World(
        root=root,
        gcs=gcs,
        container=container,
        clouddns=clouddns,
        compute=compute,
        registry=registry,
        cloudbuild=cloudbuild,
        monitoring=monitoring,
        logging=logging,
        kube=kube,
        ingress=ingress,
        public_dns=public_dns,
        repo=repo,
        workloads=workloads,
        gke=gke,
        capsys=capsys,
        prod_kube=prod_kube,
    )
    by_attribute = {"gcs": gcs, "container": container, "clouddns": clouddns, "compute": compute}
    by_attribute |= {"registry": registry, "cloudbuild": cloudbuild, "monitoring": monitoring}
    by_attribute |= {"logging": logging}
    world.rewire(**{field_name: by_attribute[attribute].url for field_name, attribute in ENDPOINTS.items()})
    world.wiring |= {
        "public_dns": f"127.0.0.1:{public_dns.port}",
        "load_balancers": {INGRESS_IP: ingress.url},
        "control_planes": {
            CLUSTER_DNS: kube.url,
            **({PROD_CLUSTER_DNS: prod_kube.url} if prod_kube is not None else {}),
        },
    }
    world.wiring_file.write_text(json.dumps(world.wiring))
    world.configure(
        target="gcp",
        project=PROJECT,
        region=REGION,
        domain=DOMAIN,
        protected=False,
        image_builder="cloudbuild",
        ready_timeout_s=30,
        stacks_dir=str(STACKS),
        charts_dir=str(CHARTS),
        repo=str(repo.path),
        slo_dir=str(REPO_ROOT / "slo"),
        # The world's commits are unsigned; tests of signed deploys turn this back on.
        require_signed_commits=False,
    )
    for name in ("slo:error_budget:remaining", "slo:burn_rate:1h", "slo:burn_rate:5m"):
        world.slo_series(name, dict.fromkeys(SLO_NAMES, 1.0 if name.endswith("remaining") else 0.0))
    try:
        yield world
    finally:
        public_dns.stop()
        for double in doubles:
            double.stop()


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[World]:
    with open_world(
        tmp_path,
        setenv=monkeypatch.setenv,
        capsys=capsys,
    ) as world:
        monkeypatch.chdir(world.project_dir)
        yield world
    problems = [f"{d.name}: {p}" for d in world.doubles for p in d.problems]
    assert not problems, "\n".join(problems)
