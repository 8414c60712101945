"""Where the shared Redis is: one server, a master that Sentinels watch, or a Redis Cluster.

`SEALGW_REDIS_URL` names it in the URL forms the `limits` library reads as well (the rate
windows live in the same Redis), so one setting configures both:

- `redis://[user:password@]host:port/db`, `rediss://…` (TLS), `unix:///path?db=N`: one server;
- `redis+sentinel://[user:password@]host:port[,host:port…]/service`: the master the Sentinels
  know as `service`, looked up again after a failover (the credentials are the master's and the
  Sentinels'; database 0);
- `redis+cluster://[user:password@]host:port[,host:port…]`: a Redis Cluster, found from any of
  the nodes named.

TLS to Sentinels or a cluster is not offered: the suite cannot test it, and an untested
connection to the store that holds vendor tokens is worse than a clear refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from limits.aio.storage import RedisClusterStorage, RedisSentinelStorage, RedisStorage, Storage

Kind = Literal["server", "sentinel", "cluster"]
SCHEMES: dict[str, Kind] = {
    "redis": "server",
    "rediss": "server",
    "unix": "server",
    "redis+sentinel": "sentinel",
    "redis+cluster": "cluster",
}
DEFAULT_PORTS = {"server": 6379, "sentinel": 26379, "cluster": 6379}


class RedisAddressError(ValueError):
    """A URL that names no Redis the gateway can use; the message never shows a password."""


@dataclass(frozen=True)
class RedisAddress:
    url: str
    kind: Kind
    nodes: tuple[tuple[str, int], ...]
    service: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        parts = urlsplit(url)
        kind = SCHEMES.get(parts.scheme)
        if kind is None:
            shown = parts.scheme + "://…" if parts.scheme else "that"
            raise RedisAddressError(
                "must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// "
                f"URL, not {shown}."
            )
        if kind == "server":
            if not (parts.netloc or parts.path):
                raise RedisAddressError("names no server.")
            return cls(url, kind, ())
        _, _, hosts = parts.netloc.rpartition("@")
        nodes = tuple(_node(item, DEFAULT_PORTS[kind]) for item in hosts.split(",") if item)
        if not nodes:
            raise RedisAddressError(f"names no {kind} node (host:port[,host:port…]).")
        path = parts.path.strip("/")
        if kind == "sentinel" and (not path or "/" in path):
            raise RedisAddressError(
                "must name the master's service after the Sentinels, as in "
                "redis+sentinel://host:26379,host:26380/mymaster."
            )
        if kind == "cluster" and path not in ("", "0"):
            raise RedisAddressError("names a database; a Redis Cluster has only database 0.")
        # urlsplit reads one host:port; the credentials stand before the first @ of the netloc
        credentials = parts.netloc.rpartition("@")[0]
        user, _, password = credentials.partition(":")
        return cls(
            url,
            kind,
            nodes,
            service=path if kind == "sentinel" else None,
            username=unquote(user) or None,
            password=unquote(password) or None,
        )

    @property
    def shown(self) -> str:
        """The address without its credentials, for messages and logs."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"

    def _auth(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password}

    def async_client(self, **options: Any) -> redis.asyncio.Redis | redis.asyncio.RedisCluster:
        """A client for the gateway's own keys; `options` are connection options (timeouts,
        health checks, retries)."""
        if self.kind == "server":
            return redis.asyncio.Redis.from_url(self.url, **options)
        if self.kind == "sentinel":
            sentinel = redis.asyncio.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                list(self.nodes), sentinel_kwargs={**self._auth(), **_socket(options)}
            )
            master: redis.asyncio.Redis = sentinel.master_for(
                str(self.service), **self._auth(), **options
            )
            return master
        return redis.asyncio.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in self.nodes],
            **self._auth(),
            **options,
        )

    def sync_client(self, **options: Any) -> redis.Redis | redis.RedisCluster:
        """A blocking client, for the check before serving."""
        if self.kind == "server":
            return redis.Redis.from_url(self.url, **options)
        if self.kind == "sentinel":
            sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
                list(self.nodes), sentinel_kwargs={**self._auth(), **_socket(options)}
            )
            master: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
                str(self.service), **self._auth(), **options
            )
            return master
        nodes = [redis.cluster.ClusterNode(h, p) for h, p in self.nodes]  # type: ignore[no-untyped-call]
        return redis.RedisCluster(
            startup_nodes=nodes,
            **self._auth(),
            **options,
        )

    def rate_storage(self, **options: Any) -> Storage:
        """The `limits` storage over the same Redis, for rate windows."""
        common = {"implementation": "redispy", "key_prefix": "sealgw-rate", **options}
        if self.kind == "server":
            return RedisStorage("async+" + self.url, **common)
        if self.kind == "sentinel":
            return RedisSentinelStorage(
                "async+" + self.url, sentinel_kwargs=_socket(options), **common
            )
        return RedisClusterStorage("async+" + self.url, **common)


def _node(item: str, default_port: int) -> tuple[str, int]:
    host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    host = host.strip("[]")
    if not host:
        raise RedisAddressError(f"names a node without a host ({item!r}).")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise RedisAddressError(f"names a node whose port is not a number ({item!r}).") from None


def _socket(options: dict[str, Any]) -> dict[str, Any]:
    """The timeouts a Sentinel's own connections take too."""
    keys = ("socket_timeout", "socket_connect_timeout")
    return {key: options[key] for key in keys if key in options}
