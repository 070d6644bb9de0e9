"""The demo operator's subscribers (Nordlys Mobile), matching the customers `teamline seed`
creates (desk/demo.py), in the shapes of the HTTP telco backend (docs/telco-backend.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any


def _period_end() -> str:
    today = date.today()
    first_of_next = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (first_of_next - timedelta(days=1)).isoformat()


def _subscriber(
    name: str,
    language: str,
    region: str,
    plan: str,
    balance: str,
    currency: str,
    used: int,
    cap: int,
) -> dict[str, Any]:
    return {
        "name": name,
        "language": language,
        "region": region,
        "plan": plan,
        "balance": {"balance": balance, "currency": currency},
        "usage": {"data_used_mb": used, "data_cap_mb": cap, "period_ends": _period_end()},
    }


SUBSCRIBERS: dict[str, dict[str, Any]] = {
    "+4791234567": _subscriber(
        "Nora Johansen", "nb", "Oslo", "Fri 10 GB", "187.50", "NOK", 8200, 10240
    ),
    "+4798765432": _subscriber(
        "Даниил Петров", "ru", "Oslo", "Reise 20 GB", "42.00", "NOK", 3100, 20480
    ),
    "+8613800138000": _subscriber(
        "王芳", "zh", "Guangdong", "畅享 30 GB", "56.80", "CNY", 27800, 30720
    ),
    "+4747474747": _subscriber("محمد علي", "ar", "Oslo", "Fri 5 GB", "0.00", "NOK", 5120, 5120),
    "+4740404040": _subscriber(
        "Αλέξανδρος Παπαδόπουλος", "el", "Oslo", "Fri 10 GB", "612.30", "NOK", 900, 10240
    ),
}


def outages() -> list[dict[str, Any]]:
    """One ongoing outage in Oslo (the demo customer Nora writes about it), started two hours
    ago, expected to end in three; none in Guangdong."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        {
            "id": "OUT-2026-0412",
            "title": "Mobile data down around Grünerløkka (mast maintenance)",
            "regions": ["Oslo"],
            "started_at": (now - timedelta(hours=2)).isoformat(),
            "expected_end": (now + timedelta(hours=3)).isoformat(),
        }
    ]
