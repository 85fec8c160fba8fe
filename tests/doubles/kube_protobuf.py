"""Decoding the Kubernetes protobuf encoding of a Secret, for the Kubernetes double.

client-go (inside the Helm SDK) writes core objects as ``application/vnd.kubernetes.protobuf``
and does not fall back to JSON, so the Helm release storage (Secrets) arrives in that form. Only
what a Secret holds is decoded: the envelope (``k8s\\0`` + ``runtime.Unknown``), ObjectMeta's
plain fields, labels, annotations, finalizers, and the Secret's data, type and immutability.
Field numbers are those of k8s.io/api/core/v1/generated.proto and apimachinery's meta/v1.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value): varints as int, length-delimited as bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            yield number, data[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _entry(data: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, raw in _fields(data):
        if number == 1 and isinstance(raw, bytes):
            key = raw.decode()
        elif number == 2 and isinstance(raw, bytes):
            value = raw
    return key, value


def _metadata(data: bytes) -> dict[str, Any]:
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    meta: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number in names and isinstance(raw, bytes):
            meta[names[number]] = raw.decode()
        elif number == 7 and isinstance(raw, int):
            meta["generation"] = raw
        elif number in (11, 12) and isinstance(raw, bytes):
            key, value = _entry(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value.decode()
        elif number == 14 and isinstance(raw, bytes):
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Secret; ValueError for anything else."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf message (no k8s\\0 magic)")
    api_version = kind = ""
    raw_object = b""
    for number, raw in _fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(raw, bytes):
            for sub, value in _fields(raw):
                if sub == 1 and isinstance(value, bytes):
                    api_version = value.decode()
                elif sub == 2 and isinstance(value, bytes):
                    kind = value.decode()
        elif number == 2 and isinstance(raw, bytes):
            raw_object = raw
    if (api_version, kind) != ("v1", "Secret"):
        raise ValueError(f"the double decodes only v1 Secrets from protobuf, not {api_version}/{kind}")
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": {}}
    for number, raw in _fields(raw_object):
        if number == 1 and isinstance(raw, bytes):
            secret["metadata"] = _metadata(raw)
        elif number == 2 and isinstance(raw, bytes):
            key, value = _entry(raw)
            secret.setdefault("data", {})[key] = base64.b64encode(value).decode()
        elif number == 3 and isinstance(raw, bytes):
            secret["type"] = raw.decode()
        elif number == 4 and isinstance(raw, bytes):
            key, value = _entry(raw)
            secret.setdefault("stringData", {})[key] = value.decode()
        elif number == 5 and isinstance(raw, int):
            secret["immutable"] = bool(raw)
    return secret
