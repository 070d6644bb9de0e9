"""Teamline's own settings (teamline.settings.defaults) with one isolation override.

Redis pub/sub channels are global to the Redis server (the database number in
TEAMLINE_REDIS_URL does not separate them), and Teamline's group names (``team.1``…) are the same
in every fresh database. A benchmark publishing thousands of events a second under the default
``asgi`` prefix would reach the sockets of anything else using the same Redis (an integration
test run, a dev server). The harness therefore gives its server a unique channel prefix; nothing
else differs from the real configuration, unless a what-if run asks for a larger
InMemoryChannelLayer capacity (``--inmemory-capacity``).
"""

import os

from teamline.settings.defaults import *  # noqa: F403
from teamline.settings.defaults import CHANNEL_LAYERS, REDIS_URL

if REDIS_URL and (prefix := os.environ.get("TEAMLINE_BENCH_CHANNEL_PREFIX")):
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix

if not REDIS_URL and (capacity := os.environ.get("TEAMLINE_BENCH_INMEMORY_CAPACITY")):
    CHANNEL_LAYERS["default"]["CONFIG"] = {"capacity": int(capacity)}
