"""The fleet's records in Redis, and the Lua scripts that change them atomically.

Every key starts with ``procward:fleet:{<cluster>}:``. The braces are a
Redis Cluster hash tag: every key of one fleet lands in one slot, so the
scripts below, which touch several keys, work on a Cluster too.

    node:<name>   hash, one per node: address, labels, version, apps, the
                  placed apps it runs, its heartbeat, ``seen`` (ms, Redis's
                  clock). Renewed by each heartbeat; expires long after the
                  node is offline, so ``fleet status`` shows it for a while.
    nodes         set of node names (an index, so status needs no SCAN)
    drained       set of drained node names (an admin's flag, not the node's)
    lease         "<node>|<fence>": the leader, with PX (its lease)
    fence         counter, INCR'd at each acquisition of the lease
    assignments   JSON {"fence", "by", "apps": {app: [node, ...]}}
    stepdown      the lease value an admin asked to give up (short PX)

Why Lua: each decision that must not interleave with another node's is one
script, so Redis runs it whole. Acquiring the lease and taking the next
fence are one step (no leader without a fence, no fence without a leader);
renewing checks the holder first (a deposed leader cannot renew someone
else's lease); writing assignments checks that the writer still holds the
lease *with the same fence*, and stamps the document with it. Nodes then
ignore any document whose fence is lower than the highest they have seen
(``node.py``): that covers what the script cannot, such as a lease lost in
a Redis failover (docs/fleet.md, "Guarantees").

Records are versioned (``v``); a reader ignores fields it does not know.
This is the only module that speaks to Redis; it is used by ``node.py`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from procward.kit._structs import Struct, field

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Assignments", "FleetStore", "NodeRecord", "Snapshot", "prefix_of"]

RECORD_VERSION = 1

HEARTBEAT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'seen', now, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return {now, redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '',
        redis.call('SISMEMBER', KEYS[5], ARGV[2])}
"""

# ARGV[3], the floor: the highest fence any node reports having seen. A Redis that
# lost its data (restarted without persistence, a failover to a lagging replica)
# restarts INCR low; the next fence must still be above every fence in use.
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if fence <= floor then
  fence = floor + 1
  redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
"""

# 1: renewed; 0: not the holder (deposed); -1: an admin asked it to step down.
RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return -1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

ASSIGN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""

STATUS = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local names = redis.call('SMEMBERS', KEYS[1])
local nodes = {}
for i, name in ipairs(names) do
  nodes[#nodes + 1] = redis.call('HGETALL', ARGV[1] .. 'node:' .. name)
end
return {now, redis.call('GET', KEYS[2]) or '', redis.call('GET', KEYS[3]) or '0',
        redis.call('GET', KEYS[4]) or '', redis.call('SMEMBERS', KEYS[5]), names, nodes}
"""

# What the leader places from, each heartbeat: the fields placement reads, not the app
# summaries (most of a record's bytes). ARGV[2..]: the fields.
PLACEMENT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local fields = {unpack(ARGV, 2)}
local nodes = {}
for i, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  nodes[#nodes + 1] = redis.call('HMGET', ARGV[1] .. 'node:' .. name, unpack(fields))
end
return {now, redis.call('GET', KEYS[2]) or '', redis.call('GET', KEYS[3]) or '0',
        redis.call('GET', KEYS[4]) or '', redis.call('SMEMBERS', KEYS[5]), nodes}
"""
PLACEMENT_FIELDS = ("name", "labels", "running", "heartbeat", "seen", "fence")

# Names in the index whose record has expired: dropped by the leader.
FORGET = """
local gone = 0
for i, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'node:' .. name) == 0 then
    redis.call('SREM', KEYS[1], name)
    gone = gone + 1
  end
end
return gone
"""


def prefix_of(cluster: str) -> str:
    return f"procward:fleet:{{{cluster}}}:"


class NodeRecord(Struct):
    """What a node says of itself at each heartbeat (the ``node:<name>`` hash)."""

    name: str
    address: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    version: str = ""
    apps: Mapping[str, list[int]] = field(default_factory=dict)  # app -> [running, wanted]
    running: tuple[str, ...] = ()  # the placed apps it runs now
    heartbeat: float = 2.0
    offline_after: float = 90.0
    seen: int = 0  # ms, Redis's clock
    fence: int = 0  # the highest fence this node has seen (and obeys no lower one)
    v: int = RECORD_VERSION

    def fields(self) -> list[str]:
        """Flat ``field, value, ...`` for HSET (everything but ``seen``, which Redis stamps)."""
        values = {
            "name": self.name,
            "address": self.address,
            "labels": json.dumps(dict(self.labels), sort_keys=True),
            "version": self.version,
            "apps": json.dumps(dict(self.apps), sort_keys=True),
            "running": json.dumps(list(self.running)),
            "heartbeat": repr(self.heartbeat),
            "offline_after": repr(self.offline_after),
            "fence": str(self.fence),
            "v": str(self.v),
        }
        return [item for pair in values.items() for item in pair]

    @classmethod
    def from_hash(cls, data: Mapping[str, str]) -> NodeRecord:
        """A record from HGETALL; a damaged field reads as its default, never as a crash."""

        def loaded(key: str, default: Any) -> Any:
            try:
                value = json.loads(data[key])
            except (KeyError, ValueError):
                return default
            return value if isinstance(value, type(default)) else default

        def number(key: str, default: float) -> float:
            try:
                return float(data[key])
            except (KeyError, ValueError):
                return default

        return cls(
            name=data.get("name", ""),
            address=data.get("address", ""),
            labels={str(k): str(v) for k, v in loaded("labels", {}).items()},
            version=data.get("version", ""),
            apps=loaded("apps", {}),
            running=tuple(str(name) for name in loaded("running", [])),
            heartbeat=number("heartbeat", 2.0),
            offline_after=number("offline_after", 90.0),
            seen=int(number("seen", 0)),
            fence=int(number("fence", 0)),
            v=int(number("v", RECORD_VERSION)),
        )


class Assignments(Struct):
    """The leader's last decision: where each placed app runs, stamped with its fence."""

    fence: int = 0
    by: str = ""
    apps: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> str:
        apps = {name: list(nodes) for name, nodes in sorted(self.apps.items())}
        return json.dumps({"fence": self.fence, "by": self.by, "apps": apps}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Assignments | None:
        """None for no document or a damaged one (then nothing is applied)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            apps = {str(k): tuple(str(n) for n in v) for k, v in data["apps"].items()}
            return cls(int(data["fence"]), str(data.get("by", "")), apps)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class Beat(Struct):
    """What one heartbeat brings back: Redis's time, the lease, the assignments, our drain flag."""

    now: int
    lease: str
    assignments: Assignments | None
    drained: bool


class Snapshot(Struct):
    """Everything ``fleet status`` shows, read in one round trip."""

    now: int
    lease: str
    fence: int
    assignments: Assignments | None
    drained: frozenset[str]
    nodes: tuple[NodeRecord, ...]


class FleetStore:
    """The fleet's keys on one Redis connection pool: every read and write of the fleet."""

    def __init__(self, redis: Redis, cluster: str) -> None:
        self.redis = redis
        self.prefix = prefix_of(cluster)
        self._heartbeat = redis.register_script(HEARTBEAT)
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._release = redis.register_script(RELEASE)
        self._assign = redis.register_script(ASSIGN)
        self._status = redis.register_script(STATUS)
        self._forget = redis.register_script(FORGET)
        self._placement = redis.register_script(PLACEMENT)

    def key(self, name: str) -> str:
        return self.prefix + name

    async def heartbeat(self, record: NodeRecord, ttl: float) -> Beat:
        """Renew our record; read the lease, the assignments and our drain flag, at once."""
        keys = [
            self.key(f"node:{record.name}"),
            self.key("nodes"),
            self.key("lease"),
            self.key("assignments"),
            self.key("drained"),
        ]
        args: list[str | int] = [int(ttl * 1000), record.name, *record.fields()]
        now, lease, assignments, drained = await self._heartbeat(keys=keys, args=args)
        return Beat(int(now), str(lease), Assignments.from_json(str(assignments)), drained == 1)

    async def acquire(self, node: str, lease: float, floor: int = 0) -> int:
        """The new fence (above ``floor``) if ``node`` now holds the lease; 0 if another does."""
        keys = [self.key("lease"), self.key("fence")]
        return int(await self._acquire(keys=keys, args=[node, int(lease * 1000), floor]))

    async def renew(self, holder: str, lease: float) -> int:
        """1 renewed, 0 deposed, -1 asked to step down (and released)."""
        keys = [self.key("lease"), self.key("stepdown")]
        return int(await self._renew(keys=keys, args=[holder, int(lease * 1000)]))

    async def release(self, holder: str) -> bool:
        return bool(await self._release(keys=[self.key("lease")], args=[holder]))

    async def ask_step_down(self, ttl: float) -> str:
        """Ask whoever holds the lease to give it up at its next renewal; who that is."""
        holder = await self.redis.get(self.key("lease"))
        if holder:
            await self.redis.set(self.key("stepdown"), holder, px=int(ttl * 1000))
        return str(holder or "")

    async def assign(self, holder: str, assignments: Assignments) -> bool:
        """Write ``assignments`` if ``holder`` ("node|fence") still holds the lease."""
        keys = [self.key("lease"), self.key("assignments")]
        return bool(await self._assign(keys=keys, args=[holder, assignments.to_json()]))

    async def set_drained(self, node: str, drained: bool) -> None:
        if drained:
            await self.redis.sadd(self.key("drained"), node)
        else:
            await self.redis.srem(self.key("drained"), node)

    async def forget_expired(self) -> int:
        return int(await self._forget(keys=[self.key("nodes")], args=[self.prefix]))

    async def placement_view(self) -> Snapshot:
        """What placement needs of the fleet in one EVALSHA: ``snapshot`` without app summaries."""
        keys = [self.key(k) for k in ("nodes", "lease", "fence", "assignments", "drained")]
        now, lease, fence, assignments, drained, rows = await self._placement(
            keys=keys, args=[self.prefix, *PLACEMENT_FIELDS]
        )
        records = tuple(
            NodeRecord.from_hash(
                {k: v for k, v in zip(PLACEMENT_FIELDS, row, strict=True) if v is not None}
            )
            for row in rows
            if row and row[0] is not None
        )
        return Snapshot(
            int(now),
            str(lease),
            int(fence),
            Assignments.from_json(str(assignments)),
            frozenset(drained),
            tuple(sorted(records, key=lambda r: r.name)),
        )

    async def snapshot(self) -> Snapshot:
        """The whole fleet: one EVALSHA, however many nodes."""
        keys = [self.key(k) for k in ("nodes", "lease", "fence", "assignments", "drained")]
        now, lease, fence, assignments, drained, _names, hashes = await self._status(
            keys=keys, args=[self.prefix]
        )
        records = tuple(
            NodeRecord.from_hash(dict(zip(flat[::2], flat[1::2], strict=True)))
            for flat in hashes
            if flat
        )
        return Snapshot(
            int(now),
            str(lease),
            int(fence),
            Assignments.from_json(str(assignments)),
            frozenset(drained),
            tuple(sorted(records, key=lambda r: r.name)),
        )
