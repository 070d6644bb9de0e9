"""A direct numerical solution of the M/M/N+M (Erlang A) queue, independent of erlang.py.

Nothing here uses Erlang B, log-space series, incomplete gamma functions or Beta
distributions. It is the chain itself, solved the plain way:

* the stationary distribution of the birth-death chain (births λ, deaths
  min(n, N)·μ + max(n − N, 0)·θ) from the products of rate ratios, in 40-digit Decimal
  arithmetic so that nothing overflows, truncated where the remaining states weigh < 1e-30;
* P(wait), P(abandon) and the mean wait from their definitions (PASTA, θ·E[queue]/λ, Little);
* the answered contacts' mean wait by first-step analysis on a tagged contact's position in
  the queue;
* the waiting-time distribution by uniformization of the tagged contact's absorbing chain
  (position in queue → answered / abandoned), started from the queue an arrival sees.
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass


@dataclass
class BruteForce:
    p_wait: float
    p_abandon: float
    p_answered: float
    asa: float
    mean_wait: float
    occupancy: float
    service_level: dict[float, float]  # t -> P(answered within t)
    p_queue_time_exceeds: dict[float, float]  # t -> P(time in queue > t)


def stationary(agents: int, load: float, aht: float, patience: float) -> list[float]:
    lam, mu, theta = load / aht, 1 / aht, 1 / patience
    with decimal.localcontext() as ctx:
        ctx.prec = 40
        weights = [decimal.Decimal(1)]
        biggest = weights[0]
        n = 0
        while True:
            n += 1
            death = min(n, agents) * mu + max(n - agents, 0) * theta
            ratio = decimal.Decimal(lam) / decimal.Decimal(death)
            weights.append(weights[-1] * ratio)
            biggest = max(biggest, weights[-1])
            if n > agents and ratio < 1 and weights[-1] < biggest * decimal.Decimal("1e-30"):
                break
        total = sum(weights)
        return [float(w / total) for w in weights]


def solve(
    agents: int, load: float, aht: float, patience: float, times: tuple[float, ...] = ()
) -> BruteForce:
    lam, mu, theta = load / aht, 1 / aht, 1 / patience
    pi = stationary(agents, load, aht, patience)
    p_idle = sum(pi[:agents])
    queue = pi[agents:]  # queue[j]: an arrival finds every agent busy and j others waiting
    p_wait = sum(queue)
    mean_queue = sum(j * q for j, q in enumerate(pi[agents:]))
    p_abandon = theta * mean_queue / lam

    # First-step analysis. With i contacts ahead, the tagged contact's position moves up at
    # rate N·μ + i·θ (an agent frees up or someone ahead gives up) and it gives up at rate θ.
    answered_given: list[float] = []  # P(answered | i ahead)
    wait_if_answered: list[float] = []  # E[wait · 1{answered} | i ahead]
    previous_p, previous_w = 1.0, 0.0  # "position −1" is being answered: no further wait
    for i in range(len(queue)):
        advance = agents * mu + i * theta
        out = advance + theta
        p = advance / out * previous_p
        w = advance / out * (previous_p / out + previous_w)
        answered_given.append(p)
        wait_if_answered.append(w)
        previous_p, previous_w = p, w
    p_answered = p_idle + sum(q * p for q, p in zip(queue, answered_given, strict=True))
    asa = sum(q * w for q, w in zip(queue, wait_if_answered, strict=True)) / p_answered

    service_level: dict[float, float] = {}
    exceeds: dict[float, float] = {}
    for t in times:
        answered_by_t, still_waiting = _uniformize(queue, agents * mu, theta, t)
        service_level[t] = p_idle + answered_by_t
        exceeds[t] = still_waiting
    return BruteForce(
        p_wait=p_wait,
        p_abandon=p_abandon,
        p_answered=p_answered,
        asa=asa,
        mean_wait=mean_queue / lam,
        occupancy=lam * p_answered / mu / agents,
        service_level=service_level,
        p_queue_time_exceeds=exceeds,
    )


def _uniformize(
    start: list[float], service_rate: float, theta: float, t: float
) -> tuple[float, float]:
    """Probability mass answered by time t and still queueing at t, for the tagged contact."""
    size = len(start)
    advance = [service_rate + i * theta for i in range(size)]
    uniform_rate = service_rate + size * theta  # ≥ every exit rate advance[i] + θ
    # Advance in slices short enough that e^(−rate·slice) cannot underflow.
    slices = max(1, math.ceil(uniform_rate * t / 30))
    state, answered = list(start), 0.0
    for _ in range(slices):
        state, answered = _advance(state, answered, advance, theta, uniform_rate, t / slices)
    return answered, sum(state)


def _advance(
    state: list[float],
    answered: float,
    advance: list[float],
    theta: float,
    uniform_rate: float,
    dt: float,
) -> tuple[list[float], float]:
    """exp(Q·dt) applied to (queue positions, answered) by uniformization."""
    size = len(state)
    rate_t = uniform_rate * dt
    weight = math.exp(-rate_t)  # Poisson(rate_t) probability of k jumps, from k = 0
    out_state = [weight * x for x in state]
    out_answered = weight * answered
    k = 0
    # Past the Poisson mode the remaining jump-count mass is below weight · r / (1 − r).
    while k + 1 <= rate_t or weight * rate_t / (k + 1 - rate_t) > 1e-18:
        answered += state[0] * advance[0] / uniform_rate
        state = [
            state[i] * (1 - (advance[i] + theta) / uniform_rate)
            + (state[i + 1] * advance[i + 1] / uniform_rate if i + 1 < size else 0.0)
            for i in range(size)
        ]
        k += 1
        weight *= rate_t / k
        out_answered += weight * answered
        for i in range(size):
            out_state[i] += weight * state[i]
    return out_state, out_answered
