"""Proactive care in the JSON API: POST /api/v1/events (docs/proactive.md)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["proactive"])
