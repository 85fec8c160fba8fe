"""A small Kubernetes API server double, so the real Helm SDK (client-go inside helm_python)
serialises real requests against it: discovery, server-side apply, get/list/watch, delete.

It stores objects in memory and gives workloads a "ready" status as soon as they are applied, so
Helm's status watcher (`wait="watcher"`) sees them become Current. Tests steer it with two hooks:

- ``reject``: a predicate on an applied object; matching writes get 422 (an upgrade that fails);
- ``never_ready``: a predicate on an applied object; matching workloads stay unready (a rollout
  that never finishes, so Helm's wait times out).

Only what Helm uses is implemented; anything else answers 404 like a server without that API.
"""

from __future__ import annotations

import json
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# (group, version, plural, kind, namespaced): every kind the sreplat charts render, plus the
# core kinds Helm itself touches.
RESOURCES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "services", "Service", True),
    ("", "v1", "secrets", "Secret", True),
    ("", "v1", "configmaps", "ConfigMap", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True),
    ("", "v1", "pods", "Pod", True),
    ("apps", "v1", "deployments", "Deployment", True),
    ("apps", "v1", "statefulsets", "StatefulSet", True),
    ("apps", "v1", "replicasets", "ReplicaSet", True),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    ("monitoring.googleapis.com", "v1", "podmonitorings", "PodMonitoring", True),
    ("networking.gke.io", "v1", "managedcertificates", "ManagedCertificate", True),
    ("networking.gke.io", "v1beta1", "frontendconfigs", "FrontendConfig", True),
    ("cloud.google.com", "v1", "backendconfigs", "BackendConfig", True),
)

Predicate = Callable[[dict[str, Any]], bool]
Key = tuple[str, str, str, str]  # (group/version, plural, namespace, name)

_COLLECTION = re.compile(
    r"^/(?:api|apis/(?P<group>[^/]+))/(?P<version>v[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$"
)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "reason": reason,
        "code": code,
        "message": message,
    }


@dataclass
class FakeKubeAPI:
    """Start with ``start()``; ``url`` is the server address for a kubeconfig."""

    reject: Predicate | None = None
    never_ready: Predicate | None = None
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rv: int = 1
    _watchers: list[tuple[str, str, str | None, queue.Queue[dict[str, Any] | None]]] = field(
        default_factory=list
    )
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> FakeKubeAPI:
        api = self

        class Handler(_Handler):
            fake = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-kube-api", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for *_, q in self._watchers:
                q.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, *, namespace: str = "default", token: str = "test-token") -> str:  # noqa: S107
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "fake", "user": {"token": token}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
                ],
                "current-context": "fake",
            }
        )

    # --- queries for tests ---------------------------------------------------------------
    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            for obj in self.objects.values():
                meta = obj["metadata"]
                if obj["kind"] == kind and meta.get("namespace", "") == namespace and meta["name"] == name:
                    return json.loads(json.dumps(obj))
        return None

    def kinds(self, namespace: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(
                (o["kind"], o["metadata"]["name"])
                for (_, _, ns, _), o in self.objects.items()
                if ns == namespace
            )

    # --- behaviour ----------------------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _with_status(self, obj: dict[str, Any]) -> None:
        """Give a workload the status of a finished rollout, unless a test wants it stuck."""
        gen = obj["metadata"]["generation"]
        ready = not (self.never_ready and self.never_ready(obj))
        kind = obj["kind"]
        replicas = int(obj.get("spec", {}).get("replicas", 1))
        if kind == "Deployment":
            n = replicas if ready else 0
            obj["status"] = {
                "observedGeneration": gen,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": n,
                "availableReplicas": n,
                **({} if ready else {"unavailableReplicas": replicas}),
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True" if ready else "False",
                        "reason": "MinimumReplicasAvailable",
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable" if ready else "ReplicaSetUpdated",
                    },
                ],
            }
        elif kind == "StatefulSet":
            n = replicas if ready else 0
            obj["status"] = {
                "observedGeneration": gen,
                "replicas": replicas,
                "readyReplicas": n,
                "currentReplicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": n,
                "currentRevision": f"r{gen}",
                "updateRevision": f"r{gen}",
            }
        elif kind == "PersistentVolumeClaim":
            obj["status"] = {"phase": "Bound"}
        elif kind in ("PodDisruptionBudget", "HorizontalPodAutoscaler"):
            obj["status"] = {"observedGeneration": gen}

    def _apply(
        self, key: Key, body: dict[str, Any], namespace: str | None, *, dry_run: bool = False
    ) -> tuple[int, dict[str, Any]]:
        if self.reject and self.reject(body):
            return 422, _status(
                422,
                "Invalid",
                f"{body.get('kind')} {body.get('metadata', {}).get('name')} rejected by the test",
            )
        if dry_run:  # ?dryRun=All: validated and answered, never stored
            return 200, json.loads(json.dumps(body))
        with self._lock:
            old = self.objects.get(key)
            obj = json.loads(json.dumps(body))
            meta = obj.setdefault("metadata", {})
            if namespace:
                meta["namespace"] = namespace
            meta["uid"] = old["metadata"]["uid"] if old else f"uid-{self._rv}"
            meta["creationTimestamp"] = (
                old["metadata"]["creationTimestamp"] if old else "2026-01-01T00:00:00Z"
            )
            changed = old is None or {k: v for k, v in old.items() if k not in {"status", "metadata"}} != {
                k: v for k, v in obj.items() if k not in {"status", "metadata"}
            }
            meta["generation"] = (old["metadata"].get("generation", 1) + (1 if changed else 0)) if old else 1
            meta["resourceVersion"] = self._next_rv()
            self._with_status(obj)
            self.objects[key] = obj
            self._notify(key, "ADDED" if old is None else "MODIFIED", obj)
        return (201 if old is None else 200), obj

    def _delete(self, key: Key) -> tuple[int, dict[str, Any]]:
        with self._lock:
            obj = self.objects.pop(key, None)
            if obj is None:
                return 404, _status(404, "NotFound", f"{key[1]} {key[3]} not found")
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._notify(key, "DELETED", obj)
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Success",
            "details": {"name": key[3], "kind": key[1]},
        }

    def _notify(self, key: Key, kind: str, obj: dict[str, Any]) -> None:
        gv, plural, ns, _ = key
        for w_gv, w_plural, w_ns, q in self._watchers:
            if w_gv == gv and w_plural == plural and (w_ns is None or w_ns == ns):
                q.put({"type": kind, "object": json.loads(json.dumps(obj))})

    def _list(self, gv: str, plural: str, ns: str | None) -> list[dict[str, Any]]:
        return [
            o
            for (g, p, n, _), o in self.objects.items()
            if g == gv and p == plural and (ns is None or n == ns)
        ]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubeAPI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        parsed: dict[str, Any] = json.loads(raw or b"{}")
        return parsed

    def _discovery(self, path: str) -> bool:
        if path == "/version":
            self._send(200, {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "platform": "linux/amd64"})
        elif path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            groups: dict[str, list[str]] = {}
            for g, v, *_ in RESOURCES:
                if g and v not in groups.setdefault(g, []):
                    groups[g].append(v)
            self._send(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                            "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]},
                        }
                        for g, vs in groups.items()
                    ],
                },
            )
        elif path == "/openapi/v2":
            # An empty OpenAPI document (protobuf encoding of an empty message is zero bytes):
            # client-side validation then skips kinds it has no schema for.
            self._send(200, b"", "application/octet-stream")
        else:
            m = re.match(r"^/(?:api|apis/(?P<group>[^/]+))/(?P<version>v[^/]+)$", path)
            if not m:
                return False
            group, version = m.group("group") or "", m.group("version")
            resources = [
                {
                    "name": p,
                    "singularName": k.lower(),
                    "namespaced": nsd,
                    "kind": k,
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                }
                for g, v, p, k, nsd in RESOURCES
                if g == group and v == version
            ]
            if not resources:
                return False
            self._send(
                200,
                {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": resources,
                },
            )
        return True

    def _handle(self) -> None:  # noqa: PLR0911 (one branch per verb)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.fake.requests.append((self.command, self.path))
        if self.command == "GET" and self._discovery(url.path):
            return
        m = _COLLECTION.match(url.path)
        if not m:
            self._send(404, _status(404, "NotFound", f"{url.path} not found"))
            return
        group, version, ns, plural, name = (
            m.group("group") or "",
            m.group("version"),
            m.group("ns"),
            m.group("plural"),
            m.group("name"),
        )
        gv = f"{group}/{version}" if group else version
        known = {(g, v, p) for g, v, p, *_ in RESOURCES}
        if (group, version, plural) not in known:
            self._send(
                404,
                _status(404, "NotFound", f"the server could not find the requested resource {gv}/{plural}"),
            )
            return
        if name is None:
            if self.command == "GET" and query.get("watch") in (["true"], ["1"]):
                initial = query.get("sendInitialEvents") == ["true"]
                self._watch(gv, plural, ns, float(query.get("timeoutSeconds", ["30"])[0]), initial)
                return
            if self.command == "GET":
                with self.fake._lock:
                    items = self.fake._list(gv, plural, ns)
                    rv = str(self.fake._rv)
                kind = next(k for g, v, p, k, _ in RESOURCES if (g, v, p) == (group, version, plural))
                self._send(
                    200,
                    {
                        "kind": f"{kind}List",
                        "apiVersion": gv,
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    },
                )
                return
            if self.command == "POST":
                body = self._body()
                key = (gv, plural, ns or "", body["metadata"]["name"])
                if key in self.fake.objects:
                    self._send(409, _status(409, "AlreadyExists", f"{plural} {key[3]} already exists"))
                    return
                self._send(*self.fake._apply(key, body, ns, dry_run="dryRun" in query))
                return
            self._send(405, _status(405, "MethodNotAllowed", self.command))
            return
        key = (gv, plural, ns or "", name)
        if self.command == "GET":
            obj = self.fake.objects.get(key)
            self._send(200, obj) if obj else self._send(
                404, _status(404, "NotFound", f'{plural} "{name}" not found')
            )
        elif self.command in ("PATCH", "PUT"):
            body = self._body()
            if self.command == "PATCH" and "apply-patch" not in (self.headers.get("Content-Type") or ""):
                # A merge patch on an existing object: good enough for Helm's three-way merges.
                old = self.fake.objects.get(key)
                if old is None:
                    self._send(404, _status(404, "NotFound", f'{plural} "{name}" not found'))
                    return
                body = _merge(json.loads(json.dumps(old)), body)
            self._send(*self.fake._apply(key, body, ns, dry_run="dryRun" in query))
        elif self.command == "DELETE":
            self._body()  # DeleteOptions; read it so the keep-alive connection stays in sync
            if "dryRun" in query:
                self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
            else:
                self._send(*self.fake._delete(key))
        else:
            self._send(405, _status(405, "MethodNotAllowed", self.command))

    def _watch(self, gv: str, plural: str, ns: str | None, timeout: float, initial: bool) -> None:
        q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        entry = (gv, plural, ns, q)
        with self.fake._lock:
            self.fake._watchers.append(entry)
            if initial:
                # The streaming-list protocol (client-go's WatchList): current objects as ADDED
                # events, then a bookmark that marks the end of the initial state.
                for obj in self.fake._list(gv, plural, ns):
                    q.put({"type": "ADDED", "object": json.loads(json.dumps(obj))})
                kind = next(k for g, v, p, k, _ in RESOURCES if (f"{g}/{v}" if g else v, p) == (gv, plural))
                q.put(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": kind,
                            "apiVersion": gv,
                            "metadata": {
                                "resourceVersion": str(self.fake._rv),
                                "annotations": {"k8s.io/initial-events-end": "true"},
                            },
                        },
                    }
                )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            remaining = min(timeout, 60.0)
            while remaining > 0 and not self.fake._stopping.is_set():
                try:
                    event = q.get(timeout=0.5)
                except queue.Empty:
                    remaining -= 0.5
                    continue
                if event is None:
                    break
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.fake._lock:
                self.fake._watchers.remove(entry)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for k, v in patch.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = _merge(base[k], v)
        else:
            base[k] = v
    return base
