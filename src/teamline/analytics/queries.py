"""Reads other apps may call: staffing and queueing forecasts.

Routing, the simulator and the staffing views reach the Erlang formulas through this module
(the app's public read interface); :mod:`teamline.analytics.erlang` documents them.
"""

from teamline.analytics.erlang import (
    ErlangA,
    agents_for_asa,
    agents_for_service_level,
    average_speed_of_answer,
    erlang_a,
    erlang_a_agents_for_service_level,
    erlang_b,
    erlang_c,
    occupancy,
    offered_load,
    service_level,
)

__all__ = [
    "ErlangA",
    "agents_for_asa",
    "agents_for_service_level",
    "average_speed_of_answer",
    "erlang_a",
    "erlang_a_agents_for_service_level",
    "erlang_b",
    "erlang_c",
    "occupancy",
    "offered_load",
    "service_level",
]
