"""The queue engines for proactive care's event stream, side by side (not a test; ADR 0007).

    python bench/stream_engines.py [ENTRIES] [REDIS_URL] [NATS_URL]

Publishes ENTRIES (2,000) entries of 500 event ids each, then one consumer reads them one at a
time and acknowledges each: Redis Streams (a consumer group, XREADGROUP + XACK) and NATS
JetStream (file storage, a durable pull consumer, ack_sync). Uses the stream/subject names
`ingest_micro*` and deletes them afterwards. Needs `redis` (a Teamline dependency) and
`nats-py`, which Teamline does not depend on: run it from a virtualenv that has both.
"""

import asyncio
import contextlib
import sys
import time

import nats
import nats.js.errors
import redis

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
REDIS_URL = sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379/14"
NATS_URL = sys.argv[3] if len(sys.argv) > 3 else "nats://127.0.0.1:4222"
payload = ",".join(str(10_000_000 + i) for i in range(500)).encode()


def redis_bench():
    r = redis.Redis.from_url(REDIS_URL)
    key = "ingest_micro"
    r.delete(key)
    r.xgroup_create(key, "g", id="0", mkstream=True)
    t = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i in range(N):
        pipe.xadd(key, {"ids": payload})
        if i % 100 == 99:
            pipe.execute()
    pipe.execute()
    pub = time.perf_counter() - t
    t = time.perf_counter()
    got = 0
    while got < N:
        ans = r.xreadgroup("g", "c1", {key: ">"}, count=1, block=1000)
        for eid, _fields in ans[0][1]:
            r.xack(key, "g", eid)
            got += 1
    con = time.perf_counter() - t
    r.delete(key)
    return pub, con


async def nats_bench():
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream("ingest_micro")
    await js.add_stream(name="ingest_micro", subjects=["ingest_micro.events"])
    t = time.perf_counter()
    futs = [js.publish("ingest_micro.events", payload) for _ in range(N)]
    for i in range(0, N, 100):
        await asyncio.gather(*futs[i : i + 100])
    pub = time.perf_counter() - t
    sub = await js.pull_subscribe("ingest_micro.events", durable="ingest_micro_c")
    t = time.perf_counter()
    got = 0
    while got < N:
        msgs = await sub.fetch(1, timeout=5)
        for m in msgs:
            await m.ack_sync()
            got += 1
    con = time.perf_counter() - t
    await js.delete_stream("ingest_micro")
    await nc.close()
    return pub, con


rp, rc = redis_bench()
np_, nc_ = asyncio.run(nats_bench())
print(f"entries={N} of 500 ids ({len(payload)} bytes)")
for name, publish, consume in (("redis streams", rp, rc), ("nats jetstream", np_, nc_)):
    print(
        f"{name}: publish {N / publish:,.0f} entries/s, consume+ack {N / consume:,.0f} "
        f"entries/s ({N * 500 / consume:,.0f} event ids/s)"
    )
