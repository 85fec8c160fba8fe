"""Kubernetes API server double: discovery plus generic get/list/create/replace/patch/delete of
the resource kinds sreplat touches, over HTTPS with a bearer token like a GKE control plane.

It stores objects; it is not a controller. Tests (or ``reactors``, called after every write)
set the ``status`` a controller would have written (``kube_controllers`` has the usual ones).
``admission`` checks run before every create and update (dry runs included), as a validating
admission webhook does: one that returns a message refuses the write with 422 Invalid.
Lists honour ``labelSelector`` (=, ==, !=, in, notin, exists, !exists) and ``fieldSelector`` on
metadata.name / metadata.namespace.

What the Helm SDK (client-go) needs is served too, so real installs, upgrades, waits, rollbacks
and uninstalls run against it: ``/openapi/v2`` (empty: no client-side schema), server-side apply
(``PATCH`` with ``application/apply-patch+yaml``, creating what is missing), ``dryRun``, and
watches (``?watch=true``, replaying events after ``resourceVersion``, or the streaming list of
``sendInitialEvents``) fed by every write.

A GKE control plane has two doors (cloud.google.com/kubernetes-engine/docs/concepts/network-isolation):
the IP-based endpoint, whose certificate the cluster CA signs, and the DNS-based endpoint
(``<uid>.<region>.gke.goog``), which presents a publicly trusted certificate. ``sni`` gives the
double the DNS names it answers as (by TLS SNI, on the same port); ``ip_endpoint_open=False``
drops every connection that does not ask for one of them — the IP endpoint seen from outside the
VPC when no authorized network lists the caller (a firewall: no answer at all).
"""

from __future__ import annotations

import copy
import itertools
import json
import queue
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.doubles import kube_protobuf
from tests.doubles.base import DoubleServer, Request, Response, rfc3339


@dataclass(frozen=True)
class Kind:
    group: str  # "" for the core group
    version: str
    resource: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


KINDS = [
    Kind("", "v1", "namespaces", "Namespace", namespaced=False),
    Kind("", "v1", "pods", "Pod"),
    Kind("", "v1", "services", "Service"),
    Kind("", "v1", "secrets", "Secret"),
    Kind("", "v1", "configmaps", "ConfigMap"),
    Kind("", "v1", "serviceaccounts", "ServiceAccount"),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Kind("", "v1", "events", "Event"),
    Kind("apps", "v1", "deployments", "Deployment"),
    Kind("apps", "v1", "statefulsets", "StatefulSet"),
    Kind("apps", "v1", "replicasets", "ReplicaSet"),
    Kind("networking.k8s.io", "v1", "ingresses", "Ingress"),
    Kind("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    Kind("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    Kind("networking.gke.io", "v1", "managedcertificates", "ManagedCertificate"),
    Kind("monitoring.googleapis.com", "v1", "podmonitorings", "PodMonitoring"),
    Kind("networking.gke.io", "v1beta1", "frontendconfigs", "FrontendConfig"),
    Kind("cloud.google.com", "v1", "backendconfigs", "BackendConfig"),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
]
_BY_PATH = {(k.group, k.version, k.resource): k for k in KINDS}
_BY_RESOURCE = {(k.group, k.resource): k for k in KINDS}

Reactor = Callable[["KubeDouble", str, dict[str, Any]], None]  # (double, verb, stored object)
# (verb, object to be written) → None to admit it, or the reason it is refused
Admission = Callable[[str, dict[str, Any]], str | None]
WATCH_EVENTS_KEPT = 2000


@dataclass
class _Watch:
    group: str
    resource: str
    namespace: str | None
    selector: list[Callable[[dict[str, str]], bool]]
    events: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)

    def wants(self, group: str, resource: str, namespace: str, obj: dict[str, Any]) -> bool:
        if (group, resource) != (self.group, self.resource):
            return False
        if self.namespace is not None and namespace != self.namespace:
            return False
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(test(labels) for test in self.selector)


class KubeDouble(DoubleServer):
    name = "kube-double"

    def __init__(
        self, *, version: str = "v1.33.2-gke.1111000", ip_endpoint_open: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.ip_endpoint_open = ip_endpoint_open
        self.refused: list[str] = []  # requests dropped at the closed IP endpoint
        # (group, resource, namespace or "", name) → object
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.reactors: list[Reactor] = []
        self.admission: list[Admission] = []
        self._rv = itertools.count(1000)
        self._watches: list[_Watch] = []
        # (resourceVersion, group, resource, namespace, event type, object) for watch replays
        self._history: list[tuple[int, str, str, str, str, dict[str, Any]]] = []
        self.route("GET", r"/version/?", self._version)
        self.route("GET", r"/openapi/v2", self._openapi_v2)
        self.route("GET", r"/openapi/v3/?", self._openapi_v3)
        self.route("GET", r"/api/?", self._core_versions)
        self.route("GET", r"/apis/?", self._groups)
        self.route("GET", r"/api/v1/?", self._resources("", "v1"))
        for group, group_version in sorted({(k.group, k.version) for k in KINDS if k.group}):
            self.route(
                "GET", rf"/apis/{re.escape(group)}/{group_version}/?", self._resources(group, group_version)
            )
        prefix = r"/(?:api/(?P<cv>v1)|apis/(?P<group>[^/]+)/(?P<gv>[^/]+))"
        namespaced = (
            prefix + r"/namespaces/(?P<ns>[^/]+)/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>status))?)?"
        )
        cluster = prefix + r"/(?P<res>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>status))?)?"
        for pattern in (namespaced, cluster):
            for verb in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                self.route(verb, pattern, self._resource_call)

    def error(self, status: int, message: str, reason: str | None = None) -> Response:
        reasons = {
            401: "Unauthorized",
            403: "Forbidden",
            404: "NotFound",
            409: "AlreadyExists",
            422: "Invalid",
        }
        return Response(
            status,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reasons.get(status, reason or "InternalError"),
                "code": status,
            },
        )

    def refuses_connection(self, request: Request) -> bool:
        if self.ip_endpoint_open or (request.server_name or "") in self._sni:
            return False
        with self.lock:
            self.refused.append(f"{request.method} {request.path}")
        return True

    # --- direct access for tests --------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as it is (create or replace), filling in server-set metadata."""
        kind = self._kind_of(obj)
        meta = obj.setdefault("metadata", {})
        with self.lock:
            key = (
                kind.group,
                kind.resource,
                meta.get("namespace", "") if kind.namespaced else "",
                meta["name"],
            )
            previous = self.objects.get(key)
            generation = meta.get("generation")
            self._stamp(obj, previous)
            if generation is not None:  # the test says which generation this is
                meta["generation"] = generation
            self.objects[key] = obj
            self._notify(kind, key[2], "ADDED" if previous is None else "MODIFIED", obj)
        return obj

    def get(self, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        k = next(k for k in KINDS if k.kind == kind)
        with self.lock:
            obj = self.objects.get((k.group, k.resource, namespace if k.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def delete(self, kind: str, name: str, namespace: str = "") -> None:
        k = next(k for k in KINDS if k.kind == kind)
        with self.lock:
            obj = self.objects.pop((k.group, k.resource, namespace if k.namespaced else "", name), None)
            if obj is not None:
                self._notify(k, namespace if k.namespaced else "", "DELETED", obj)

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        k = next(k for k in KINDS if k.kind == kind)
        with self.lock:
            return [
                copy.deepcopy(o)
                for (g, r, ns, _), o in sorted(self.objects.items())
                if (g, r) == (k.group, k.resource) and (namespace is None or ns == namespace)
            ]

    def names_in(self, namespace: str) -> list[tuple[str, str]]:
        """(kind, name) of every object in ``namespace``, sorted."""
        with self.lock:
            return sorted(
                (obj["kind"], name) for (_, _, ns, name), obj in self.objects.items() if ns == namespace
            )

    def _kind_of(self, obj: dict[str, Any]) -> Kind:
        group, _, version = obj["apiVersion"].rpartition("/")
        for k in KINDS:
            if (k.group, k.version, k.kind) == (group, version, obj["kind"]):
                return k
        raise ValueError(f"kind {obj['apiVersion']}/{obj['kind']} unknown to the double")

    def _stamp(self, obj: dict[str, Any], previous: dict[str, Any] | None) -> None:
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(self._rv))
        if previous is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", rfc3339())
            if obj["kind"] not in ("Namespace", "Pod", "Secret", "ConfigMap", "Event"):
                meta.setdefault("generation", 1)
        else:
            meta["uid"] = previous["metadata"]["uid"]
            meta["creationTimestamp"] = previous["metadata"]["creationTimestamp"]
            if "generation" in previous["metadata"]:
                spec_changed = obj.get("spec") != previous.get("spec")
                meta["generation"] = previous["metadata"]["generation"] + (1 if spec_changed else 0)
        if obj["kind"] == "Namespace":
            obj.setdefault("status", {"phase": "Active"})

    # --- discovery ----------------------------------------------------------------------------
    def _version(self, req: Request) -> Response:
        major, minor = self.version.lstrip("v").split(".")[:2]
        return Response(
            body={
                "major": major,
                "minor": minor,
                "gitVersion": self.version,
                "gitCommit": "0" * 40,
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.24.4",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    def _core_versions(self, req: Request) -> Response:
        return Response(
            body={
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.host}],
            }
        )

    def _groups(self, req: Request) -> Response:
        groups: dict[str, list[str]] = {}
        for k in KINDS:
            if k.group and k.version not in groups.setdefault(k.group, []):
                groups[k.group].append(k.version)
        return Response(
            body={
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in versions],
                        "preferredVersion": {"groupVersion": f"{g}/{versions[0]}", "version": versions[0]},
                    }
                    for g, versions in groups.items()
                ],
            }
        )

    def _resources(self, group: str, version: str) -> Callable[[Request], Response]:
        def handler(req: Request) -> Response:
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            resources = []
            for k in KINDS:
                if (k.group, k.version) != (group, version):
                    continue
                resources.append(
                    {
                        "name": k.resource,
                        "singularName": k.kind.lower(),
                        "namespaced": k.namespaced,
                        "kind": k.kind,
                        "verbs": verbs,
                    }
                )
                if k.resource in ("deployments", "statefulsets", "pods", "services", "ingresses"):
                    resources.append(
                        {
                            "name": f"{k.resource}/status",
                            "singularName": "",
                            "namespaced": k.namespaced,
                            "kind": k.kind,
                            "verbs": ["get", "patch", "update"],
                        }
                    )
            group_version = f"{group}/{version}" if group else version
            return Response(
                body={
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": resources,
                }
            )

        return handler

    def _openapi_v2(self, req: Request) -> Response:
        # An empty document (the protobuf encoding of an empty message is zero bytes): client-go
        # then has no schema to validate against and leaves validation to the server.
        return Response(body=b"", content_type="application/octet-stream")

    def _openapi_v3(self, req: Request) -> Response:
        return self.error(404, "the server could not find the requested resource (openapi/v3)")

    # --- resources ----------------------------------------------------------------------------
    def _resource_call(self, req: Request) -> Response:  # noqa: PLR0911
        m = req.match
        group = m.get("group", "")
        version = m.get("cv") or m.get("gv") or ""
        kind = _BY_PATH.get((group, version, m["res"]))
        if kind is None:
            return self.error(404, f"the server could not find the requested resource ({req.path})")
        namespace = m.get("ns", "")
        if kind.namespaced != bool(namespace) and not (req.method == "GET" and "name" not in m):
            return self.error(404, f"the server could not find the requested resource ({req.path})")
        missing_ns = namespace and ("", "namespaces", "", namespace) not in self.objects
        if missing_ns and req.method == "POST":
            return self.error(404, f'namespaces "{namespace}" not found')
        if "protobuf" in req.headers.get("content-type", "") and req.body and req.method != "DELETE":
            req = _as_json(req)
        name = m.get("name")
        dry_run = req.param("dryRun") is not None
        if name is None:
            if req.method == "GET" and req.param("watch") in ("true", "1"):
                return self._watch(kind, namespace or None, req)
            if req.method == "GET":
                return self._list(kind, namespace or None, req)
            if req.method == "POST":
                return self._create(kind, namespace, req, dry_run=dry_run)
            return self.error(
                405, f"{req.method} on a collection is not supported by the double", "MethodNotAllowed"
            )
        key = (kind.group, kind.resource, namespace, name)
        current = self.objects.get(key)
        server_side_apply = req.method == "PATCH" and "apply-patch" in req.headers.get("content-type", "")
        if current is None and server_side_apply:
            return self._create(kind, namespace, req, dry_run=dry_run, name=name)
        if current is None:
            return self.error(
                404, f'{kind.resource}.{kind.group or "core"} "{name}" not found'.replace(".core", "")
            )
        if req.method == "GET":
            return Response(body=current)
        if req.method == "DELETE":
            if dry_run:
                return Response(body={"kind": "Status", "apiVersion": "v1", "status": "Success"})
            self._delete(kind, key)
            return Response(
                body={
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": name, "kind": kind.resource, "uid": current["metadata"]["uid"]},
                }
            )
        if req.method == "PUT":
            body = req.json()
            sent_rv = (body.get("metadata") or {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                return self.error(
                    409,
                    f'Operation cannot be fulfilled on {kind.resource} "{name}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                    "Conflict",
                )
            updated = body
        elif server_side_apply:
            # The applied configuration is the whole object for the one manager that applies here.
            updated = req.json()
        else:  # PATCH
            updated = _apply_patch(current, req.json(), req.headers.get("content-type", ""))
        if m.get("sub") == "status":
            updated = {**copy.deepcopy(current), "status": updated.get("status")}
        elif "status" in current:
            updated = {**updated, "status": current["status"]}  # spec writes never touch status
        updated.setdefault("metadata", {})["name"] = name
        if kind.namespaced:
            updated["metadata"]["namespace"] = namespace
        updated["apiVersion"], updated["kind"] = kind.api_version, kind.kind
        if refused := self._admit("update", updated):
            return refused
        if dry_run:
            return Response(body=updated)
        self._stamp(updated, current)
        self.objects[key] = updated
        self._react("update", updated)
        self._notify(kind, namespace, "MODIFIED", updated)
        return Response(body=updated)

    def _create(
        self, kind: Kind, namespace: str, req: Request, *, dry_run: bool = False, name: str | None = None
    ) -> Response:
        body = req.json()
        meta = body.setdefault("metadata", {})
        if name is not None:
            meta["name"] = name
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            return self.error(422, f"{kind.kind} is invalid: metadata.name: Required value")
        key = (kind.group, kind.resource, namespace, name)
        if key in self.objects:
            return self.error(409, f'{kind.resource} "{name}" already exists')
        if kind.namespaced:
            meta["namespace"] = namespace
        body["apiVersion"], body["kind"] = kind.api_version, kind.kind
        if refused := self._admit("create", body):
            return refused
        if dry_run:
            return Response(201, body)
        self._stamp(body, None)
        self.objects[key] = body
        self._react("create", body)
        self._notify(kind, namespace, "ADDED", body)
        return Response(201, body)

    def _delete(self, kind: Kind, key: tuple[str, str, str, str]) -> None:
        obj = self.objects.pop(key)
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        if kind.kind == "Namespace":  # the namespace controller, collapsed into one step
            for other in [k for k in self.objects if k[2] == key[3]]:
                gone = self.objects.pop(other)
                self._notify(_BY_RESOURCE[(other[0], other[1])], other[2], "DELETED", gone)
        self._react("delete", obj)
        self._notify(kind, key[2], "DELETED", obj)

    # --- watches ------------------------------------------------------------------------------
    def _notify(self, kind: Kind, namespace: str, event: str, obj: dict[str, Any]) -> None:
        """Tell the watches about a write (call with the lock held)."""
        rv = int(obj.get("metadata", {}).get("resourceVersion") or next(self._rv))
        snapshot = copy.deepcopy(obj)
        self._history.append((rv, kind.group, kind.resource, namespace, event, snapshot))
        del self._history[:-WATCH_EVENTS_KEPT]
        for watch in self._watches:
            if watch.wants(kind.group, kind.resource, namespace, snapshot):
                watch.events.put({"type": event, "object": snapshot})

    def _watch(self, kind: Kind, namespace: str | None, req: Request) -> Response:
        watch = _Watch(
            kind.group, kind.resource, namespace, _parse_label_selector(req.param("labelSelector") or "")
        )
        since = req.param("resourceVersion") or ""
        if req.param("sendInitialEvents") == "true":
            # client-go's streaming list: the current objects as ADDED, then a bookmark that
            # marks the end of the initial state.
            for (g, r, ns, _), obj in sorted(self.objects.items()):
                if watch.wants(g, r, ns, obj):
                    watch.events.put({"type": "ADDED", "object": copy.deepcopy(obj)})
            watch.events.put(
                {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": kind.kind,
                        "apiVersion": kind.api_version,
                        "metadata": {
                            "resourceVersion": str(next(self._rv)),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                }
            )
        elif since.isdigit() and int(since) > 0:
            for rv, g, r, ns, event, obj in self._history:
                if rv > int(since) and watch.wants(g, r, ns, obj):
                    watch.events.put({"type": event, "object": copy.deepcopy(obj)})
        self._watches.append(watch)
        timeout = min(float(req.param("timeoutSeconds") or 60), 60.0)
        return Response(stream=self._watch_stream(watch, timeout))

    def _watch_stream(self, watch: _Watch, timeout: float) -> Iterator[bytes]:
        left = timeout
        try:
            while left > 0 and not self._stopping.is_set():
                try:
                    event = watch.events.get(timeout=0.2)
                except queue.Empty:
                    left -= 0.2
                    continue
                if event is None:
                    return
                yield json.dumps(event).encode() + b"\n"
        finally:
            with self.lock:
                if watch in self._watches:
                    self._watches.remove(watch)

    def _list(self, kind: Kind, namespace: str | None, req: Request) -> Response:
        selector = _parse_label_selector(req.param("labelSelector") or "")
        fields = dict(
            part.split("=", 1) for part in (req.param("fieldSelector") or "").split(",") if "=" in part
        )
        items = []
        for (g, r, ns, name), obj in sorted(self.objects.items()):
            if (g, r) != (kind.group, kind.resource) or (namespace is not None and ns != namespace):
                continue
            labels = obj.get("metadata", {}).get("labels") or {}
            if not all(test(labels) for test in selector):
                continue
            if fields.get("metadata.name", name) != name or fields.get("metadata.namespace", ns) != ns:
                continue
            items.append(obj)
        return Response(
            body={
                "kind": f"{kind.kind}List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(next(self._rv))},
                "items": items,
            }
        )

    def _admit(self, verb: str, obj: dict[str, Any]) -> Response | None:
        for check in list(self.admission):
            reason = check(verb, obj)
            if reason is not None:
                name = obj.get("metadata", {}).get("name", "")
                return self.error(422, f'{obj["kind"]} "{name}" is invalid: {reason}')
        return None

    def _react(self, verb: str, obj: dict[str, Any]) -> None:
        for reactor in list(self.reactors):
            reactor(self, verb, obj)


def _as_json(req: Request) -> Request:
    """``req`` with its protobuf body (client-go writes Secrets so) turned into JSON."""
    body = json.dumps(kube_protobuf.decode(req.body)).encode()
    headers = {**req.headers, "content-type": "application/json"}
    return Request(req.method, req.path, req.query, headers, body, req.match, req.server_name)


def _parse_label_selector(text: str) -> list[Callable[[dict[str, str]], bool]]:
    tests: list[Callable[[dict[str, str]], bool]] = []
    # Split on commas that are not inside parentheses (set-based requirements).
    for raw in re.split(r",(?![^()]*\))", text):
        part = raw.strip()
        if not part:
            continue
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", part):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                tests.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := re.fullmatch(r"([\w./-]+)\s*(!=|==|=)\s*([\w./-]*)", part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif m := re.fullmatch(r"!([\w./-]+)", part):
            absent = m.group(1)
            tests.append(lambda lb, k=absent: k not in lb)
        elif re.fullmatch(r"[\w./-]+", part):
            tests.append(lambda lb, k=part: k in lb)
        else:
            raise ValueError(f"label selector the double cannot parse: {part!r}")
    return tests


def _apply_patch(current: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    if "json-patch" in content_type:
        result = copy.deepcopy(current)
        for op in patch:
            *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
            target: Any = result
            for p in parents:
                target = target[int(p)] if isinstance(target, list) else target.setdefault(p, {})
            if op["op"] in ("add", "replace"):
                if isinstance(target, list):
                    index = len(target) if last == "-" else int(last)
                    if op["op"] == "add":
                        target.insert(index, op["value"])
                    else:
                        target[index] = op["value"]
                else:
                    target[last] = op["value"]
            elif op["op"] == "remove":
                del target[int(last) if isinstance(target, list) else last]
            else:
                raise ValueError(f"json-patch op {op['op']!r} not supported by the double")
        return result
    # merge-patch and strategic-merge-patch are the same thing for the maps sreplat patches.
    return _merge(copy.deepcopy(current), patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target
