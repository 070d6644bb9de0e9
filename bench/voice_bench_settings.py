"""The benchmark settings (teamline_bench_settings) plus subscribers for the simulated callers.

The demo telco backend (selfservice/telco_demo.py) knows five subscribers; a voice benchmark
with hundreds of callers needs each caller to be one, or the balance step would answer "no
subscription" without reading anything. This adds TEAMLINE_BENCH_VOICE_SUBSCRIBERS numbers
(+4793000000, +4793000001, …) in the demo's own shape to the demo table at start-up, in the
server process only. The IVR then reads them through the same DemoTelcoBackend code path.
"""

import os

from teamline.selfservice import telco_demo
from teamline_bench_settings import *  # noqa: F403

FIRST_NUMBER = 4793000000

for _i in range(int(os.environ.get("TEAMLINE_BENCH_VOICE_SUBSCRIBERS", "0"))):
    telco_demo.SUBSCRIBERS.setdefault(
        f"+{FIRST_NUMBER + _i}",
        telco_demo._subscriber(
            f"Bench Caller {_i}",
            "nb",
            "Oslo",
            "Fri 10 GB",
            f"{100 + _i % 500}.50",
            "NOK",
            2048,
            10240,
        ),
    )
