"""Cloud Storage JSON API double: buckets (get/insert/patch/list, IAM policy get/set) and enough
of objects (list, metadata, media download — JSON and XML API paths —, simple and multipart
upload, delete) for the state bucket, Terraform's gcs backend and sreplat's lock and release record.

Paths as the real API: ``/storage/v1/b...`` and ``/upload/storage/v1/b/<bucket>/o``.

Request preconditions as documented (cloud.google.com/storage/docs/request-preconditions): a
request with ``ifGenerationMatch=N`` proceeds only if the object's live generation is N, and
``ifGenerationMatch=0`` only if there is no live object; otherwise it fails with ``412 Precondition
Failed`` (reason ``conditionNotMet``). Uploads, deletes, metadata reads and downloads honour it. A
delete or read of an object that does not exist is ``404`` whatever the precondition.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from tests.doubles.base import DoubleServer, Request, Response, rfc3339

PROJECT_NUMBERS = itertools.count(100000000001)


@dataclass
class StoredObject:
    data: bytes
    generation: int
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


class StorageDouble(DoubleServer):
    name = "gcs-double"

    def __init__(self, *, project: str = "acme-sre-dev", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.project_number = str(next(PROJECT_NUMBERS))
        self.buckets: dict[str, dict[str, Any]] = {}
        # Buckets that exist but belong to someone else: get → 403, insert → 409.
        self.foreign_buckets: set[str] = set()
        self.objects: dict[str, dict[str, StoredObject]] = {}
        self.policies: dict[str, dict[str, Any]] = {}  # bucket → IAM policy
        self._generation = itertools.count(1700000000000001)
        b = r"/storage/v1/b"
        self.route("GET", b, self._list_buckets)
        self.route("POST", b, self._insert_bucket)
        self.route("GET", b + r"/(?P<bucket>[^/]+)", self._get_bucket)
        self.route("PATCH", b + r"/(?P<bucket>[^/]+)", self._patch_bucket)
        self.route("GET", b + r"/(?P<bucket>[^/]+)/o", self._list_objects)
        self.route("GET", b + r"/(?P<bucket>[^/]+)/o/(?P<object>.+)", self._get_object)
        self.route("GET", r"/download" + b + r"/(?P<bucket>[^/]+)/o/(?P<object>.+)", self._get_object)
        self.route("DELETE", b + r"/(?P<bucket>[^/]+)/o/(?P<object>.+)", self._delete_object)
        self.route("POST", r"/upload/storage/v1/b/(?P<bucket>[^/]+)/o", self._upload)
        self.route("GET", b + r"/(?P<bucket>[^/]+)/iam", self._get_iam)
        self.route("PUT", b + r"/(?P<bucket>[^/]+)/iam", self._set_iam)
        # The XML API's path-style download, which the Go client (Terraform's gcs backend) reads
        # objects with. Registered last: it would match every other path.
        self.route("GET", r"/(?P<bucket>[^/]+)/(?P<object>.+)", self._xml_download)

    # --- seeding ------------------------------------------------------------------------------
    def add_bucket(
        self,
        name: str,
        *,
        location: str = "ASIA-SOUTH1",
        versioning: bool = False,
        uniform_access: bool = False,
        public_access_prevention: str = "inherited",
    ) -> dict[str, Any]:
        with self.lock:
            bucket = self._new_bucket(
                {
                    "name": name,
                    "location": location,
                    "versioning": {"enabled": versioning},
                    "iamConfiguration": {
                        "uniformBucketLevelAccess": {"enabled": uniform_access},
                        "publicAccessPrevention": public_access_prevention,
                    },
                }
            )
            self.buckets[name] = bucket
            self.objects[name] = {}
            return bucket

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str = "text/plain") -> None:
        with self.lock:
            self.objects[bucket][name] = StoredObject(data, next(self._generation), content_type)

    # --- buckets ------------------------------------------------------------------------------
    def _new_bucket(self, body: dict[str, Any]) -> dict[str, Any]:
        now = rfc3339()
        iam = body.get("iamConfiguration") or {}
        ubla = iam.get("uniformBucketLevelAccess") or iam.get("bucketPolicyOnly") or {"enabled": False}
        ubla = {"enabled": bool(ubla.get("enabled"))}
        if ubla["enabled"]:
            ubla["lockedTime"] = rfc3339(1e10)
        return {
            "kind": "storage#bucket",
            "id": body["name"],
            "selfLink": f"{self.url}/storage/v1/b/{body['name']}",
            "projectNumber": self.project_number,
            "name": body["name"],
            "timeCreated": now,
            "updated": now,
            "metageneration": "1",
            "location": str(body.get("location") or "US").upper(),
            "locationType": "region",
            "storageClass": body.get("storageClass") or "STANDARD",
            "versioning": {"enabled": bool((body.get("versioning") or {}).get("enabled"))},
            "iamConfiguration": {
                "bucketPolicyOnly": dict(ubla),
                "uniformBucketLevelAccess": ubla,
                "publicAccessPrevention": iam.get("publicAccessPrevention") or "inherited",
            },
            "labels": dict(body.get("labels") or {}),
            "etag": "CAE=",
        }

    def _list_buckets(self, req: Request) -> Response:
        return Response(body={"kind": "storage#buckets", "items": list(self.buckets.values())})

    def _get_bucket(self, req: Request) -> Response:
        name = req.match["bucket"]
        if name in self.foreign_buckets:
            return self.error(
                403,
                f"caller does not have storage.buckets.get access to the Google Cloud Storage bucket {name}.",
                "forbidden",
            )
        if name not in self.buckets:
            return self.error(404, "The specified bucket does not exist.", "notFound")
        return Response(body=self.buckets[name])

    def _insert_bucket(self, req: Request) -> Response:
        project = req.param("project")
        if project != self.project:
            return self.error(403, f"The caller does not have permission on project {project}", "forbidden")
        body = req.json()
        name = body.get("name", "")
        if name in self.foreign_buckets:
            return self.error(
                409,
                "The requested bucket name is not available. The bucket namespace is shared by all "
                "users of the system. Please select a different name and try again.",
                "conflict",
            )
        if name in self.buckets:
            return self.error(
                409,
                "Your previous request to create the named bucket succeeded and you already own it.",
                "conflict",
            )
        bucket = self._new_bucket(body)
        self.buckets[name] = bucket
        self.objects[name] = {}
        return Response(body=bucket)

    def _patch_bucket(self, req: Request) -> Response:
        name = req.match["bucket"]
        if name not in self.buckets:
            return self.error(404, "The specified bucket does not exist.", "notFound")
        bucket = self.buckets[name]
        patch = req.json() or {}
        if "versioning" in patch:
            bucket["versioning"] = {"enabled": bool((patch["versioning"] or {}).get("enabled"))}
        iam = patch.get("iamConfiguration")
        if iam:
            current = bucket["iamConfiguration"]
            ubla = iam.get("uniformBucketLevelAccess") or iam.get("bucketPolicyOnly")
            if ubla is not None:
                enabled = bool(ubla.get("enabled"))
                current["uniformBucketLevelAccess"] = {"enabled": enabled}
                if enabled:
                    current["uniformBucketLevelAccess"]["lockedTime"] = rfc3339(1e10)
                current["bucketPolicyOnly"] = dict(current["uniformBucketLevelAccess"])
            if "publicAccessPrevention" in iam:
                current["publicAccessPrevention"] = iam["publicAccessPrevention"]
        for key in ("labels", "storageClass"):
            if key in patch:
                bucket[key] = patch[key]
        bucket["metageneration"] = str(int(bucket["metageneration"]) + 1)
        bucket["updated"] = rfc3339()
        return Response(body=copy.deepcopy(bucket))

    def _get_iam(self, req: Request) -> Response:
        name = req.match["bucket"]
        if name not in self.buckets:
            return self.error(404, "The specified bucket does not exist.", "notFound")
        policy = self.policies.get(name) or {"bindings": [], "etag": "CAE=", "version": 1}
        return Response(body={"kind": "storage#policy", "resourceId": f"projects/_/buckets/{name}", **policy})

    def _set_iam(self, req: Request) -> Response:
        name = req.match["bucket"]
        if name not in self.buckets:
            return self.error(404, "The specified bucket does not exist.", "notFound")
        body = req.json() or {}
        conditional = any(b.get("condition") for b in body.get("bindings", []))
        if conditional and int(body.get("version") or 1) < 3:
            return self.error(400, "IAM conditions require policy version 3.", "invalid")
        if conditional and not self.buckets[name]["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"]:
            return self.error(400, "IAM conditions need uniform bucket-level access.", "invalid")
        etag = f"CA{len(self.policies.get(name, {}).get('bindings', [])) + 1}="
        self.policies[name] = {
            "bindings": body.get("bindings", []),
            "version": int(body.get("version") or 1),
            "etag": etag,
        }
        return self._get_iam(req)

    # --- objects ------------------------------------------------------------------------------
    def _resource(self, bucket: str, name: str, obj: StoredObject) -> dict[str, Any]:
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{obj.generation}",
            "name": name,
            "bucket": bucket,
            "generation": str(obj.generation),
            "metageneration": "1",
            "contentType": obj.content_type,
            "size": str(len(obj.data)),
            "md5Hash": base64.b64encode(hashlib.md5(obj.data, usedforsecurity=False).digest()).decode(),
            "timeCreated": rfc3339(),
            "updated": rfc3339(),
            "metadata": obj.metadata,
            "selfLink": f"{self.url}/storage/v1/b/{bucket}/o/{quote(name, safe='')}",
        }

    def _bucket_objects(self, req: Request) -> dict[str, StoredObject] | Response:
        name = req.match["bucket"]
        if name not in self.buckets:
            return self.error(404, "The specified bucket does not exist.", "notFound")
        return self.objects[name]

    def _list_objects(self, req: Request) -> Response:
        objects = self._bucket_objects(req)
        if isinstance(objects, Response):
            return objects
        prefix = req.param("prefix") or ""
        items = [
            self._resource(req.match["bucket"], n, o)
            for n, o in sorted(objects.items())
            if n.startswith(prefix)
        ]
        return Response(body={"kind": "storage#objects", "items": items})

    def _precondition_failed(self) -> Response:
        message = "At least one of the pre-conditions you specified did not hold."
        return self.error(412, message, "conditionNotMet")

    @staticmethod
    def _generation_mismatch(req: Request, live: StoredObject | None) -> bool:
        """Whether ``ifGenerationMatch`` (if given) rules the request out, ``live`` being the
        object's live version (None: no live object)."""
        wanted = req.param("ifGenerationMatch")
        if wanted is None:
            return False
        if wanted == "0":
            return live is not None
        return live is None or str(live.generation) != wanted

    def _get_object(self, req: Request) -> Response:
        objects = self._bucket_objects(req)
        if isinstance(objects, Response):
            return objects
        obj = objects.get(req.match["object"])
        if obj is None:
            return self.error(404, "No such object: " + req.match["object"], "notFound")
        if self._generation_mismatch(req, obj):
            return self._precondition_failed()
        if req.param("alt") == "media":
            return Response(
                body=obj.data,
                content_type=obj.content_type,
                headers={"X-Goog-Generation": str(obj.generation)},
            )
        return Response(body=self._resource(req.match["bucket"], req.match["object"], obj))

    def _xml_download(self, req: Request) -> Response:
        bucket, name = req.match["bucket"], req.match["object"]
        obj = self.objects.get(bucket, {}).get(name)
        if obj is None:
            return Response(
                404,
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
                "<Message>The specified key does not exist.</Message></Error>",
                content_type="application/xml; charset=UTF-8",
            )
        return Response(
            body=obj.data,
            content_type=obj.content_type,
            headers={"X-Goog-Generation": str(obj.generation), "X-Goog-Metageneration": "1"},
        )

    def _delete_object(self, req: Request) -> Response:
        objects = self._bucket_objects(req)
        if isinstance(objects, Response):
            return objects
        live = objects.get(req.match["object"])
        if live is None:
            return self.error(404, "No such object: " + req.match["object"], "notFound")
        if self._generation_mismatch(req, live):
            return self._precondition_failed()
        del objects[req.match["object"]]
        return Response(204)

    def _upload(self, req: Request) -> Response:
        objects = self._bucket_objects(req)
        if isinstance(objects, Response):
            return objects
        kind = req.param("uploadType")
        if kind == "media":
            name = req.param("name") or ""
            meta: dict[str, Any] = {}
            data = req.body
            content_type = req.headers.get("content-type", "application/octet-stream")
        elif kind == "multipart":
            meta, data, content_type = _split_multipart(req)
            name = meta.get("name") or req.param("name") or ""
        else:
            return self.error(400, f"uploadType {kind!r} is not supported by the double", "invalid")
        if self._generation_mismatch(req, objects.get(name)):
            # e.g. a create-only write (Terraform's state lock, sreplat's lock) finds the object
            # there, or a conditional overwrite finds another generation than the one it read.
            return self._precondition_failed()
        obj = StoredObject(data, next(self._generation), meta.get("contentType") or content_type)
        obj.metadata = dict(meta.get("metadata") or {})
        objects[name] = obj
        return Response(body=self._resource(req.match["bucket"], name, obj))


def _split_multipart(req: Request) -> tuple[dict[str, Any], bytes, str]:
    header = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + req.body)
    parts = list(message.iter_parts())  # type: ignore[attr-defined]
    meta = json.loads(parts[0].get_payload(decode=True))
    data = parts[1].get_payload(decode=True)
    return meta, data, parts[1].get_content_type()
