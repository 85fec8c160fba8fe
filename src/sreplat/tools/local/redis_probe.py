"""Read-only looks at a Redis that serves an RQ queue: ping, persistence, memory, queue depth,
failed jobs and registered workers. redis-py is imported inside the functions (never at import).

Key names are RQ's (rq 2/3): ``rq:queue:<q>`` (list), ``rq:failed:<q>`` (sorted set),
``rq:workers:<q>`` (set of ``rq:worker:<name>`` hashes with ``pid``, ``hostname``, ``state``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sreplat.errors import OperationFailed

DEFAULT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class RedisHealth:
    version: str
    aof_enabled: bool
    aof_last_write_ok: bool
    rdb_last_save_ok: bool
    used_memory_human: str
    used_memory_bytes: int
    maxmemory_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "aof_enabled": self.aof_enabled,
            "aof_last_write_ok": self.aof_last_write_ok,
            "rdb_last_save_ok": self.rdb_last_save_ok,
            "used_memory": self.used_memory_human,
            "used_memory_bytes": self.used_memory_bytes,
            "maxmemory_bytes": self.maxmemory_bytes,
        }


@dataclass(frozen=True)
class RegisteredWorker:
    name: str
    pid: int | None
    hostname: str | None
    state: str


def _client(url: str, timeout_s: float) -> Any:
    import redis

    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
    )


def _call(url: str, timeout_s: float, fn: Any) -> Any:
    import redis

    client = _client(url, timeout_s)
    try:
        return fn(client)
    except (TimeoutError, redis.RedisError, OSError) as exc:
        raise OperationFailed(f"redis at {_safe(url)}: {exc}") from None
    finally:
        client.close()


def ping(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """True when Redis answers PING; False when it cannot be reached (never raises for that)."""
    try:
        return bool(_call(url, timeout_s, lambda c: c.ping()))
    except OperationFailed:
        return False


def health(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> RedisHealth:
    info = _call(url, timeout_s, lambda c: c.info())
    return RedisHealth(
        version=str(info.get("redis_version", "?")),
        aof_enabled=int(info.get("aof_enabled", 0)) == 1,
        aof_last_write_ok=str(info.get("aof_last_write_status", "ok")) == "ok",
        rdb_last_save_ok=str(info.get("rdb_last_bgsave_status", "ok")) == "ok",
        used_memory_human=str(info.get("used_memory_human", "?")),
        used_memory_bytes=int(info.get("used_memory", 0)),
        maxmemory_bytes=int(info.get("maxmemory", 0)),
    )


def queue_depth(url: str, queue: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
    return int(_call(url, timeout_s, lambda c: c.llen(f"rq:queue:{queue}")))


def failed_jobs(url: str, queue: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> int:
    return int(_call(url, timeout_s, lambda c: c.zcard(f"rq:failed:{queue}")))


def workers(url: str, queue: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[RegisteredWorker]:
    """Workers registered for ``queue`` whose record still exists (dead ones linger in the set
    until RQ cleans it, so callers that can check pids should)."""

    def read(client: Any) -> list[RegisteredWorker]:
        found = []
        for key in sorted(client.smembers(f"rq:workers:{queue}")):
            data = client.hgetall(key)
            if not data:
                continue
            pid = data.get("pid")
            found.append(
                RegisteredWorker(
                    name=str(key).removeprefix("rq:worker:"),
                    pid=int(pid) if pid and str(pid).isdigit() else None,
                    hostname=data.get("hostname"),
                    state=str(data.get("state", "?")),
                )
            )
        return found

    result: list[RegisteredWorker] = _call(url, timeout_s, read)
    return result


def _safe(url: str) -> str:
    # Never echo a password embedded in the URL.
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
