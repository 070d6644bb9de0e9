"""Erlang B, C and A: queueing formulas for staffing and service-level forecasts.

Pure functions, no Django, no I/O. Conventions shared by everything in this module:

``agents`` (N)
    Agents taking contacts from the queue: a whole number, at least 1.
``load`` (A)
    Offered load in Erlangs: arrival rate × average handle time, both in the same time unit.
    100 contacts an hour with a 4-minute AHT is 100 × 4 / 60 = 6.67 Erlangs
    (:func:`offered_load`). Agents are busy A of the time on average, so A is also the number
    of agents the work would keep busy if nobody ever waited.
``aht``
    Average handle time. ``target_time``, ``patience``, ``target_asa`` and every waiting time
    returned use the same unit as ``aht`` (normally seconds).

The three models, all with Poisson arrivals (rate λ), exponential handle times (rate
μ = 1/AHT, so A = λ/μ), N identical agents and first-come-first-served order:

Erlang B (M/M/N/N, A. K. Erlang, 1917)
    No queue: a contact that finds every agent busy is lost. Probability of that: B(N, A).
Erlang C (M/M/N, Erlang, 1917)
    An unlimited queue and infinitely patient customers. Only defined for N > A; with N ≤ A
    the queue grows without bound.
Erlang A (M/M/N+M, Palm 1943; named and popularised by Garnett, Mandelbaum & Reiman, 2002)
    Erlang C plus abandonment: every waiting customer gives up after an exponentially
    distributed patience with mean ``patience`` (rate θ = 1/patience). Abandonment keeps the
    queue stable for every N, including N ≤ A, and as patience → ∞ it becomes Erlang C.

Invalid inputs (negative, zero where a positive value is needed, NaN, infinity, wrong type)
raise :class:`ValueError` with a message that names the parameter.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass, field

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

# Sums over queue lengths stop once the rest of the series is below this share of the total.
_TAIL_TOLERANCE = 1e-17
# Queue-length distributions whose mode lies beyond this index are summed outwards from the
# mode (starting value from log-gamma) instead of upwards from an empty queue.
_DIRECT_SUM_LIMIT = 50_000
# Past this many terms the inputs are outside what this module supports (see _tail_sums).
_MAX_TERMS = 2_000_000
# Running sums are rescaled by this factor when they grow large, to stay far from overflow.
_RESCALE = 1e200
_LOG_RESCALE = math.log(_RESCALE)


# ---------------------------------------------------------------------------------------------
# Input validation


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number):
        raise ValueError(f"{name} must be a number, got NaN")
    return number


def _positive(name: str, value: object) -> float:
    number = _number(name, value)
    if not (0 < number < math.inf):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def _non_negative(name: str, value: object) -> float:
    number = _number(name, value)
    if not (0 <= number < math.inf):
        raise ValueError(f"{name} must be zero or a positive finite number, got {value!r}")
    return number


def _fraction(name: str, value: object) -> float:
    number = _number(name, value)
    if not (0 < number < 1):
        raise ValueError(f"{name} must be a fraction strictly between 0 and 1, got {value!r}")
    return number


def _agents(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"agents must be a whole number (int), got {value!r}")
    agents = int(value)
    if agents < 1:
        raise ValueError(f"agents must be at least 1, got {agents}")
    return agents


def _patience(value: object) -> float:
    number = _number("patience", value)
    if not number > 0:
        raise ValueError(f"patience must be positive (math.inf for none), got {value!r}")
    return number


# ---------------------------------------------------------------------------------------------
# Erlang B and C


def offered_load(contacts: float, period: float, aht: float) -> float:
    """Offered load in Erlangs: ``contacts`` arriving per ``period``, each taking ``aht``.

    A = λ · AHT with λ = contacts / period; ``period`` and ``aht`` in the same unit.
    ``offered_load(100, 3600, 240)`` (100 an hour, 4-minute AHT) is 6.67 Erlangs.
    """
    return _positive("contacts", contacts) * _positive("aht", aht) / _positive("period", period)


def _erlang_b(agents: int, load: float) -> float:
    blocking = 1.0
    for k in range(1, agents + 1):
        carried = load * blocking
        blocking = carried / (k + carried)
    return blocking


def erlang_b(agents: int, load: float) -> float:
    """Erlang B: probability that a contact finds all ``agents`` busy when nobody can wait.

    The textbook form B(N, A) = (A^N / N!) / Σ_{k=0..N} A^k / k! overflows long before
    N = 200. It is computed instead by the equivalent recurrence on the number of agents

        B(0) = 1,    B(n) = A·B(n−1) / (n + A·B(n−1)),

    whose every step stays in [0, 1]. Cost O(N); for A far below N the result may underflow
    to 0.0, the true value being below 1e-308.
    """
    return _erlang_b(_agents(agents), _positive("load", load))


def _erlang_c(agents: int, load: float) -> float:
    if agents <= load:
        return 1.0
    blocking = _erlang_b(agents, load)
    # N·B / (N − A·(1 − B)), written so the only difference taken is N − A.
    return min(1.0, agents * blocking / ((agents - load) + load * blocking))


def erlang_c(agents: int, load: float) -> float:
    """Erlang C: probability that a contact has to wait, P(W > 0), in an M/M/N queue.

    Textbook form: C(N, A) = [A^N/N! · N/(N−A)] / [Σ_{k<N} A^k/k! + A^N/N! · N/(N−A)].
    It is computed from Erlang B (same numerator over a rearranged denominator):

        C = N·B / (N − A·(1 − B)),    B = erlang_b(N, A),

    which is stable for thousands of agents.

    For N ≤ A the agents cannot keep up: the queue grows without limit, every contact ends
    up waiting, and the formula above no longer means anything (it gives values above 1 or
    below 0). This function returns 1.0 there.
    """
    return _erlang_c(_agents(agents), _positive("load", load))


def service_level(agents: int, load: float, aht: float, target_time: float) -> float:
    """Erlang C service level: share of contacts answered within ``target_time``.

    In M/M/N the wait W of an arriving contact is 0 with probability 1 − C; otherwise it is
    exponential with rate (N − A)/AHT, the rate at which the queue in front of it clears.
    Hence

        SL(t) = P(W ≤ t) = 1 − C · exp(−(N − A) · t / AHT).

    ``target_time`` may be 0, which gives the share answered immediately, 1 − C. Returns 0.0
    for N ≤ A, where waits grow without limit.
    """
    n = _agents(agents)
    a = _positive("load", load)
    handle = _positive("aht", aht)
    t = _non_negative("target_time", target_time)
    if n <= a:
        return 0.0
    return max(0.0, 1.0 - _erlang_c(n, a) * math.exp(-(n - a) * t / handle))


def average_speed_of_answer(agents: int, load: float, aht: float) -> float:
    """Erlang C ASA: mean wait over all contacts, including those answered at once.

    E[W] = C · AHT / (N − A), in the unit of ``aht``. Returns ``math.inf`` for N ≤ A.
    """
    n = _agents(agents)
    a = _positive("load", load)
    handle = _positive("aht", aht)
    if n <= a:
        return math.inf
    return _erlang_c(n, a) * handle / (n - a)


def occupancy(agents: int, load: float) -> float:
    """Erlang C occupancy: the share of time agents spend handling contacts, A / N.

    Capped at 1.0: with N ≤ A every agent is busy all the time (and the queue grows).
    """
    return min(1.0, _positive("load", load) / _agents(agents))


def _erlang_c_upwards(load: float) -> Iterator[tuple[int, float]]:
    """Yield (N, C(N, A)) for N = ⌊A⌋+1, ⌊A⌋+2, … with one Erlang B recurrence step each."""
    agents, blocking = 0, 1.0
    while True:
        agents += 1
        carried = load * blocking
        blocking = carried / (agents + carried)
        if agents > load:
            yield agents, min(1.0, agents * blocking / ((agents - load) + load * blocking))


def agents_for_service_level(
    load: float, aht: float, target_time: float, target_service_level: float
) -> int:
    """Fewest agents whose Erlang C service level reaches ``target_service_level``.

    For example an 80/20 target is ``target_time=20, target_service_level=0.8``. The search
    starts just above A (fewer agents never stabilise the queue) and walks up one agent at a
    time, updating Erlang B incrementally, so it costs O(answer).
    """
    a = _positive("load", load)
    handle = _positive("aht", aht)
    t = _non_negative("target_time", target_time)
    target = _fraction("target_service_level", target_service_level)
    for n, c in _erlang_c_upwards(a):
        if 1.0 - c * math.exp(-(n - a) * t / handle) >= target:
            return n
    raise AssertionError("unreachable: the service level tends to 1 as agents grow")


def agents_for_asa(load: float, aht: float, target_asa: float) -> int:
    """Fewest agents whose Erlang C ASA (:func:`average_speed_of_answer`) is ≤ ``target_asa``."""
    a = _positive("load", load)
    handle = _positive("aht", aht)
    target = _positive("target_asa", target_asa)
    for n, c in _erlang_c_upwards(a):
        if c * handle / (n - a) <= target:
            return n
    raise AssertionError("unreachable: the ASA tends to 0 as agents grow")


# ---------------------------------------------------------------------------------------------
# Erlang A (M/M/N+M)
#
# State: n contacts in the system (served + waiting). Births at rate λ; deaths at rate
# min(n, N)·μ + max(n − N, 0)·θ (completions plus abandonments). The stationary distribution
# of this birth-death chain, relative to the state "all N agents busy, nobody waiting", is
#
#     π(n) / π(N) = N! / (n! · A^(N−n))                                for n < N,
#     π(N+j) / π(N) = t_j = Π_{k=1..j} y / (ν + k)                    for j ≥ 0,
#
# with the dimensionless ν = Nμ/θ = N·patience/AHT and y = λ/θ = A·patience/AHT. So
#
#     R  = Σ_{n<N} π(n)/π(N) = 1/B(N, A) − 1, by the recurrence R(n) = n/A · (1 + R(n−1)),
#     S₀ = Σ_{j≥0} t_j                      (Palm's series, = ν·e^y·y^(−ν)·γ(ν, y)).
#
# An arrival sees the stationary state (Poisson arrivals see time averages). One that finds
# j others waiting advances one place at rate Nμ + iθ while i are still ahead of it and gives
# up at rate θ, so its own hold lasts a sum of exponentials with rates θ(ν + i + 1),
# i = j..0, and it is answered with probability Π_{i=0..j} (ν+i)/(ν+i+1) = ν/(ν+j+1).
# Summing over j with weights t_j gives every measure below; the service level uses the
# closed form of that sum as an incomplete gamma function, evaluated as the same series.
#
# Everything is carried in logarithms or in rescaled running sums, so nothing overflows:
# t_j grows like e^(A·patience/AHT) when N < A, and R like N!/A^N when N ≫ A.


def _log1p_exp(value: float) -> float:
    """log(1 + e^value) without overflow."""
    if value > 0:
        return value + math.log1p(math.exp(-value))
    return math.log1p(math.exp(value))


def _log_add(a: float, b: float) -> float:
    """log(e^a + e^b) without overflow."""
    if a < b:
        a, b = b, a
    if a == -math.inf:
        return a
    return a + math.log1p(math.exp(b - a))


def _log_idle_ratio(agents: int, load: float) -> float:
    """log R, R = Σ_{n<N} π(n)/π(N) = 1/B(N, A) − 1, via R(n) = n/A·(1 + R(n−1)), R(0) = 0."""
    log_ratio = -math.inf
    for k in range(1, agents + 1):
        log_ratio = math.log(k / load) + _log1p_exp(log_ratio)
    return log_ratio


# Coefficients B_2k / 2k of the asymptotic digamma series, with the power of 1/x they go with.
_DIGAMMA_SERIES = ((1 / 12, 2), (-1 / 120, 4), (1 / 252, 6), (-1 / 240, 8), (1 / 132, 10))


def _harmonic(x: float, count: int) -> float:
    """Σ_{i=0..count−1} 1/(x+i) = ψ(x+count) − ψ(x), accurately for long sums too."""
    if count <= 64:
        return math.fsum(1 / (x + i) for i in range(count))
    total = 0.0
    while x < 16:  # ψ(x) = ψ(x+1) − 1/x until the asymptotic series is accurate
        total += 1 / x
        x += 1
        count -= 1
    end = x + count
    # ψ(z) ≈ ln z − 1/(2z) − Σ B_2k / (2k·z^2k); subtract the series at both ends term by term.
    diff = math.log1p(count / x) - 0.5 * (1 / end - 1 / x)
    for coefficient, power in _DIGAMMA_SERIES:
        diff -= coefficient * (end**-power - x**-power)
    return total + diff


@dataclass
class _TailSums:
    """Σ over j ≥ 0 of t_j = Π_{k=1..j} y/(ν+k) times some weights, all × e^(−log_scale)."""

    log_scale: float = 0.0
    total: float = 0.0  # Σ t_j
    abandoned: float = 0.0  # Σ t_j · (j+1)/(ν+j+1)       (abandons after queueing)
    answered: float = 0.0  # Σ t_j · ν/(ν+j+1)             (answered after queueing)
    answered_wait: float = 0.0  # Σ t_j · ν/(ν+j+1) · H_j, H_j = Σ_{i=0..j} 1/(ν+i+1)

    def add(self, term: float, j: int, nu: float, harmonic: float, detailed: bool) -> None:
        self.total += term
        if detailed:
            denominator = nu + j + 1
            self.abandoned += term * (j + 1) / denominator
            answered = term * nu / denominator
            self.answered += answered
            self.answered_wait += answered * harmonic

    def rescale(self) -> None:
        self.log_scale += _LOG_RESCALE
        self.total /= _RESCALE
        self.abandoned /= _RESCALE
        self.answered /= _RESCALE
        self.answered_wait /= _RESCALE


def _tail_sums(nu: float, y: float, *, detailed: bool) -> _TailSums:
    """Sum the queue-length series t_j = Π_{k=1..j} y/(ν+k) (and weighted variants).

    The ratio t_{j+1}/t_j = y/(ν+j+1) falls as j grows, so the terms rise up to the mode
    j* = max(0, ⌊y − ν⌋) and then fall, first like a Gaussian of width ≈ √y, eventually
    faster than any geometric series. Past the mode the rest of the series is at most
    t_j · r/(1 − r) with r the current ratio; the sum stops when that is below
    _TAIL_TOLERANCE of the total. Before the mode, the terms are bounded the same way going
    down. When the mode is near (the usual case) the sum starts at j = 0 and runs upwards,
    rescaling the running sums when they grow large. When the mode is far (heavily
    overloaded queue with very patient customers) the sum starts at the mode, with its
    log-term from log-gamma and its harmonic prefix from the digamma series, and runs both
    ways: the cost is then O(√y) instead of O(y).
    """
    mode = max(0, math.floor(y - nu))
    sums = _TailSums()
    if mode <= _DIRECT_SUM_LIMIT:
        start, harmonic_before = 0, 0.0
    else:
        start = mode
        # log t_start = start·ln y − ln[(ν+1)(ν+2)…(ν+start)]
        sums.log_scale = start * math.log(y) - (math.lgamma(nu + 1 + start) - math.lgamma(nu + 1))
        harmonic_before = _harmonic(nu + 1, start)  # H_{start−1}
    steps = 0

    # Upwards from start.
    term, harmonic, j = 1.0, harmonic_before, start
    while True:
        harmonic += 1 / (nu + j + 1)
        sums.add(term, j, nu, harmonic, detailed)
        ratio = y / (nu + j + 1)
        if j >= mode and ratio < 1 and term * ratio <= _TAIL_TOLERANCE * sums.total * (1 - ratio):
            break
        term *= ratio
        j += 1
        steps += 1
        if term > _RESCALE:
            sums.rescale()
            term /= _RESCALE
        if steps > _MAX_TERMS:
            raise ValueError(_TOO_MANY_TERMS)

    # Downwards from start (only when the sum did not start at an empty queue).
    term, harmonic, j = 1.0, harmonic_before, start
    while j > 0:
        term *= (nu + j) / y  # t_{j−1} = t_j · (ν+j)/y
        j -= 1
        if j < start - 1:
            harmonic -= 1 / (nu + j + 2)  # H_j = H_{j+1} − 1/(ν+j+2)
        sums.add(term, j, nu, harmonic, detailed)
        ratio = (nu + j) / y
        if ratio < 1 and term * ratio <= _TAIL_TOLERANCE * sums.total * (1 - ratio):
            break
        steps += 1
        if steps > _MAX_TERMS:
            raise ValueError(_TOO_MANY_TERMS)
    return sums


_TOO_MANY_TERMS = (
    "Erlang A inputs out of the supported range: patience is so long compared with the handle "
    "time, at a load this close to or above the agents, that the queue-length series does "
    "not converge in reasonable time; use a shorter patience, or Erlang C when N > A"
)


def _log_series(a: float, z: float) -> float:
    """log Σ_{k≥0} z^k / ((a+1)(a+2)…(a+k)), the series behind γ(a, z) and γ(a+1, z)."""
    sums = _tail_sums(a, z, detailed=False)
    return sums.log_scale + math.log(sums.total)


@dataclass(frozen=True)
class ErlangA:
    """Steady-state performance of an M/M/N+M queue (Erlang A). Build with :func:`erlang_a`.

    Every probability is per arriving contact. Every time is in the unit of ``aht``. W is
    the time a contact spends in the queue: until it is answered, or until it abandons.

    ``p_wait``
        P(W > 0): the contact finds every agent busy.
    ``p_abandon``
        P(the contact hangs up before an agent answers).
    ``asa``
        Average speed of answer, E[W | answered]: mean wait of the *answered* contacts,
        those answered at once counted with wait 0. Abandoned contacts are excluded, as in
        an ACD report (the abandoned are in :attr:`mean_wait` instead).
    ``mean_wait``
        E[W] over all arrivals, answered or abandoned. By Little's law the mean queue
        length is λ·E[W] and contacts abandon at rate θ per waiting contact, so
        P(abandon) = θ·E[W], i.e. ``mean_wait = p_abandon · patience``.
    ``occupancy``
        Share of agent time spent handling contacts: A·(1 − P(abandon)) / N.

    :meth:`service_level` gives the share of contacts answered within a target time (over
    all offered contacts, abandoned ones included); :meth:`p_queue_time_exceeds` gives
    P(W > t), from which the other common definition, P(W ≤ t), follows.
    """

    agents: int
    load: float
    aht: float
    patience: float
    p_wait: float
    p_abandon: float
    asa: float
    mean_wait: float
    occupancy: float
    # Internals for the waiting-time distribution.
    _p_no_wait: float = field(repr=False)
    _p_answered_after_wait: float = field(repr=False)
    _nu: float = field(repr=False)
    _y: float = field(repr=False)
    _log_norm: float = field(repr=False)

    @property
    def p_answered(self) -> float:
        """P(the contact is answered) = 1 − P(abandon)."""
        return self._p_no_wait + self._p_answered_after_wait

    def service_level(self, target_time: float) -> float:
        """Share of offered contacts answered within ``target_time``: P(W ≤ t and answered).

        Contacts that abandon count as not answered in time whenever they hang up. With
        infinite patience this is the Erlang C service level. ``target_time`` may be 0
        (the share answered immediately).

        Let V be the *offered* wait, the hold until an agent would take the contact if it
        never gave up; the contact is answered within t iff V ≤ t and V < its patience τ.
        Given j contacts ahead on arrival, e^(−θV) has a Beta(ν, j+1) distribution; weighting
        by the queue-length distribution and summing over j gives for the answered-after-t
        part (relative to π(N))

            ν·e^y·y^(−ν−1)·γ(ν+1, x·y) = ν/(ν+1) · x^(ν+1) · e^(y(1−x)) · F(ν+1, x·y),

        with x = e^(−t/patience), γ the lower incomplete gamma function and
        F(a, z) = Σ_{k≥0} z^k / ((a+1)…(a+k)), evaluated by the same stable series as the
        queue-length distribution. SL(t) = P(answered) − P(answered after t).
        """
        t = _non_negative("target_time", target_time)
        if math.isinf(self.patience):
            return service_level(self.agents, self.load, self.aht, t)
        if t == 0:
            return self._p_no_wait
        nu, y = self._nu, self._y
        theta_t = t / self.patience
        log_after = (
            math.log(nu / (nu + 1))
            - (nu + 1) * theta_t
            - y * math.expm1(-theta_t)
            + _log_series(nu + 1, y * math.exp(-theta_t))
            - self._log_norm
        )
        answered_within = self.p_answered - math.exp(log_after)
        return min(1.0, max(0.0, answered_within))

    def p_queue_time_exceeds(self, t: float) -> float:
        """P(W > t): the contact is still waiting (neither answered nor gone) after ``t``.

        1 − this is the "P(wait ≤ t)" service level that counts abandons before t as met.
        Equals ``p_wait`` at t = 0. The queue-length sum is, as for :meth:`service_level`,

            P(V > t, τ > t)·(normalisation) = x^(ν+1) · e^(y(1−x)) · F(ν, x·y).
        """
        t = _non_negative("t", t)
        if math.isinf(self.patience):
            if self.agents <= self.load:
                return 1.0
            c = _erlang_c(self.agents, self.load)
            return c * math.exp(-(self.agents - self.load) * t / self.aht)
        if t == 0:
            return self.p_wait
        nu, y = self._nu, self._y
        theta_t = t / self.patience
        log_p = (
            -(nu + 1) * theta_t
            - y * math.expm1(-theta_t)
            + _log_series(nu, y * math.exp(-theta_t))
            - self._log_norm
        )
        return min(1.0, math.exp(log_p))


def erlang_a(agents: int, load: float, aht: float, patience: float) -> ErlangA:
    """Erlang A (M/M/N+M): waiting, abandonment, ASA and service level with impatient customers.

    ``patience`` is the customers' mean patience 1/θ in the unit of ``aht`` (how long they
    would wait, on average, before hanging up; estimated as total time waited by all
    contacts / number of abandons). ``math.inf`` means nobody abandons, i.e. Erlang C.

    Works for any N ≥ 1 and A > 0, also N ≤ A: the abandons absorb the excess load.
    With π the stationary distribution of the birth-death chain described above, R and S₀
    its two parts (idle agents / a queue of j ≥ 0) relative to π(N), and an arrival
    finding j ahead answered with probability ν/(ν+j+1) after an expected hold
    Σ_{i=0..j} 1/(θ(ν+i+1)):

        P(wait)     = S₀ / (R + S₀)
        P(abandon)  = Σ_j t_j · (j+1)/(ν+j+1) / (R + S₀)
        ASA         = patience · Σ_j t_j · ν/(ν+j+1) · H_j / (R + Σ_j t_j · ν/(ν+j+1))

    These are the M/M/N+M measures of Mandelbaum & Zeltyn's summaries of the model, written
    as series instead of incomplete gamma functions so that they can be evaluated in
    scaled/log arithmetic for hundreds of agents without overflow.
    """
    n = _agents(agents)
    a = _positive("load", load)
    handle = _positive("aht", aht)
    mean_patience = _patience(patience)
    if math.isinf(mean_patience):
        return _erlang_a_as_c(n, a, handle)

    nu = n * mean_patience / handle
    y = a * mean_patience / handle
    if not (math.isfinite(nu) and math.isfinite(y)):
        raise ValueError(_TOO_MANY_TERMS)
    log_idle = _log_idle_ratio(n, a)
    tail = _tail_sums(nu, y, detailed=True)
    log_norm = _log_add(log_idle, tail.log_scale + math.log(tail.total))
    scale = math.exp(tail.log_scale - log_norm)
    p_no_wait = math.exp(log_idle - log_norm)
    p_answered_after_wait = tail.answered * scale
    p_answered = p_no_wait + p_answered_after_wait
    p_abandon = min(1.0, tail.abandoned * scale)
    return ErlangA(
        agents=n,
        load=a,
        aht=handle,
        patience=mean_patience,
        p_wait=min(1.0, tail.total * scale),
        p_abandon=p_abandon,
        asa=mean_patience * tail.answered_wait * scale / p_answered,
        mean_wait=mean_patience * p_abandon,
        occupancy=min(1.0, a * p_answered / n),
        _p_no_wait=p_no_wait,
        _p_answered_after_wait=p_answered_after_wait,
        _nu=nu,
        _y=y,
        _log_norm=log_norm,
    )


def _erlang_a_as_c(agents: int, load: float, aht: float) -> ErlangA:
    """Infinite patience: Erlang C, including its unstable case N ≤ A."""
    stable = agents > load
    c = _erlang_c(agents, load)
    asa = c * aht / (agents - load) if stable else math.inf
    return ErlangA(
        agents=agents,
        load=load,
        aht=aht,
        patience=math.inf,
        p_wait=c,
        p_abandon=0.0,
        asa=asa,
        mean_wait=asa,
        occupancy=min(1.0, load / agents),
        _p_no_wait=1.0 - c,
        _p_answered_after_wait=c,
        _nu=math.inf,
        _y=math.inf,
        _log_norm=math.inf,
    )


def erlang_a_agents_for_service_level(
    load: float,
    aht: float,
    patience: float,
    target_time: float,
    target_service_level: float,
    *,
    max_abandon: float | None = None,
) -> int:
    """Fewest agents meeting an Erlang A service-level target (and optionally an abandon cap).

    The service level is :meth:`ErlangA.service_level` (answered within ``target_time`` over
    all offered contacts). Both it and P(abandon) improve monotonically with more agents,
    so the answer is found by doubling then bisection. No N below target × A can succeed:
    agents answer at most N/AHT contacts per unit of time out of A/AHT offered, so
    P(answered) ≤ N/A.
    """
    a = _positive("load", load)
    handle = _positive("aht", aht)
    mean_patience = _patience(patience)
    t = _non_negative("target_time", target_time)
    target = _fraction("target_service_level", target_service_level)
    abandon_cap = None if max_abandon is None else _fraction("max_abandon", max_abandon)

    def meets(n: int) -> bool:
        result = erlang_a(n, a, handle, mean_patience)
        if abandon_cap is not None and result.p_abandon > abandon_cap:
            return False
        return result.service_level(t) >= target

    failing = max(0, math.ceil(target * a) - 1)  # known to fail (or 0, not a valid N)
    passing = max(failing + 1, math.ceil(a))
    while not meets(passing):
        failing, passing = passing, passing * 2
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if meets(middle):
            passing = middle
        else:
            failing = middle
    return passing
