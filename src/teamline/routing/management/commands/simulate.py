"""`teamline simulate`: a discrete-event simulation of the contact center driving the real
routing engine (see teamline.routing.simulator and docs/routing.md, "Simulation")."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.analytics import erlang
from teamline.routing import simulator
from teamline.routing.scenarios import NAMED_POLICIES, Scenario, load_scenario, simple_scenario
from teamline.routing.simulation_results import Estimate, Result, format_report, plot_queue


class ProgressBar:
    """A one-line progress bar on stderr (only when it is a terminal, or when forced)."""

    def __init__(self, stream: Any, *, enabled: bool, width: int = 40) -> None:
        self.stream = stream
        self.enabled = enabled
        self.width = width
        self.started = time.perf_counter()
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        filled = int(fraction * self.width)
        percent = int(fraction * 100)
        if percent == self.shown:
            return
        self.shown = percent
        elapsed = time.perf_counter() - self.started
        bar = "█" * filled + "·" * (self.width - filled)
        self.stream.write(f"\rsimulating |{bar}| {percent:3d} % {elapsed:5.1f} s")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Simulate arrivals, handle times, patience, agents, teams, hours and the routing policy "
        "with the real routing engine; report service level, ASA, abandonment and occupancy."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scenario", help="a JSON or TOML scenario file (teams, agents…)")
        parser.add_argument("--agents", type=int, default=10, help="agents (without --scenario)")
        parser.add_argument("--teams", type=int, default=1, help="teams (without --scenario)")
        parser.add_argument("--rate", type=float, default=96.0, help="contacts per hour")
        parser.add_argument("--aht", type=float, default=300.0, help="mean handle time, seconds")
        parser.add_argument(
            "--handle",
            choices=["exponential", "lognormal"],
            default="exponential",
            help="handle-time distribution",
        )
        parser.add_argument("--cv", type=float, default=1.0, help="lognormal coefficient of var.")
        parser.add_argument(
            "--patience", type=float, help="mean patience in seconds (default: nobody abandons)"
        )
        parser.add_argument("--channel", default="voice", help="channel kind (voice, chat…)")
        parser.add_argument(
            "--policy", choices=sorted(NAMED_POLICIES), help="a named routing policy"
        )
        parser.add_argument("--hours", type=float, help="simulated hours (default 8)")
        parser.add_argument("--warmup", type=float, help="warm-up hours not counted (0.5)")
        parser.add_argument("--target", type=float, help="service-level target, seconds (20)")
        parser.add_argument("--seed", type=int, help="random seed (runs are deterministic)")
        parser.add_argument("--replications", type=int, default=1, help="independent runs")
        parser.add_argument("--batches", type=int, help="batch-means batches (one run; 20)")
        parser.add_argument("--confidence", type=float, help="confidence level (0.95)")
        parser.add_argument("--plot", help="write a PNG of the queue length over time here")
        parser.add_argument(
            "--progress",
            choices=["auto", "always", "never"],
            default="auto",
            help="progress bar on stderr (auto: when stderr is a terminal)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scenario = self._scenario(options)
        enabled = options["progress"] == "always" or (
            options["progress"] == "auto" and sys.stderr.isatty()
        )
        bar = ProgressBar(sys.stderr, enabled=enabled)
        result = simulator.simulate(
            scenario, replications=max(int(options["replications"]), 1), progress=bar
        )
        self.stdout.write(format_report(result))
        comparison = erlang_comparison(result)
        if comparison:
            self.stdout.write(comparison)
        if options.get("plot"):
            plot_queue(result, options["plot"])
            self.stdout.write(f"queue-length plot: {options['plot']}")

    def _scenario(self, options: dict[str, Any]) -> Scenario:
        overrides = {
            "hours": options.get("hours"),
            "warmup_hours": options.get("warmup"),
            "target_seconds": options.get("target"),
            "seed": options.get("seed"),
            "batches": options.get("batches"),
            "confidence": options.get("confidence"),
        }
        if options.get("policy"):
            overrides["policy"] = NAMED_POLICIES[options["policy"]]
        if options.get("scenario"):
            try:
                return load_scenario(options["scenario"], **overrides)
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"cannot read scenario {options['scenario']}: {exc}") from exc
        if options["agents"] < 1 or options["teams"] < 1 or options["rate"] <= 0:
            raise CommandError("--agents and --teams must be at least 1 and --rate positive")
        return simple_scenario(
            agents=options["agents"],
            teams=options["teams"],
            rate=options["rate"],
            aht=options["aht"],
            patience=options.get("patience"),
            channel_kind=options["channel"],
            handle=options["handle"],
            handle_cv=options["cv"],
            **{key: value for key, value in overrides.items() if value is not None},
        )


def erlang_comparison(result: Result) -> str:
    """The Erlang C/A prediction next to the simulation, when the scenario is the model's
    (one pooled team, one Poisson stream, exponential handle times, no shifts/profile)."""
    sc = result.scenario
    if len(sc.streams) != 1 or len(sc.teams) != 1:
        return ""
    stream = sc.streams[0]
    if stream.handle != "exponential" or stream.profile or any(a.shift for a in sc.agents):
        return ""
    agents = len(sc.agents)
    load = stream.rate_per_hour * stream.aht / 3600
    t = sc.target_seconds
    if stream.patience:
        model = erlang.erlang_a(agents, load, stream.aht, stream.patience)
        sl, asa, abandon = model.service_level(t), model.asa, model.p_abandon
        name = f"Erlang A (N={agents}, A={load:.2f} Erlangs, patience {stream.patience:g} s)"
    else:
        if agents <= load:
            return f"Erlang C: {agents} agents ≤ {load:.2f} Erlangs, the queue grows without bound"
        sl = erlang.service_level(agents, load, stream.aht, t)
        asa = erlang.average_speed_of_answer(agents, load, stream.aht)
        abandon = 0.0
        name = f"Erlang C (N={agents}, A={load:.2f} Erlangs)"
    overall = result.overall

    def verdict(estimate: Estimate, value: float) -> str:
        if math.isnan(estimate.value):
            return ""
        return "within CI" if estimate.contains(value) else "OUTSIDE CI"

    return (
        f"\n{name}: SL {sl:.1%} ({verdict(overall.service_level, sl)}), "
        f"ASA {asa:.1f} s ({verdict(overall.asa, asa)}), "
        f"abandoned {abandon:.1%} ({verdict(overall.abandon_rate, abandon)})"
    )
