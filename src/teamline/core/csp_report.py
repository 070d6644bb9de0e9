"""`POST /csp-report/`: browsers report Content-Security-Policy violations here.

Both shapes are read: the old `report-uri` one (`application/csp-report`, one
`{"csp-report": {...}}`) and the Reporting API's (`application/reports+json`, a list of
`{"type": "csp-violation", "body": {...}}`). Each violation is one warning line on the
`teamline.csp` logger with a few bounded fields; nothing is stored.

Anyone can post here, so everything is bounded: the body (16 KiB), the reports per body (20),
each field (300 characters), and the rate (per address, and for the whole site, per minute).
Over the rate the answer is 429 and nothing is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from . import jsonsafe, ratelimit
from .errors import InvalidInput, RateLimited

logger = logging.getLogger("teamline.csp")

MAX_BODY_BYTES = 16 * 1024
MAX_REPORTS = 20
MAX_FIELD_CHARS = 300
PER_ADDRESS_PER_MINUTE = 30
PER_SITE_PER_MINUTE = 600
CONTENT_TYPES = ("application/csp-report", "application/reports+json", "application/json")
# Old name → Reporting API name: one spelling in the log line.
FIELDS = {
    "document-uri": "documentURL",
    "violated-directive": "effectiveDirective",
    "effective-directive": "effectiveDirective",
    "blocked-uri": "blockedURL",
    "source-file": "sourceFile",
    "line-number": "lineNumber",
    "script-sample": "sample",
    "disposition": "disposition",
}
LOGGED = ("documentURL", "effectiveDirective", "blockedURL", "sourceFile", "lineNumber", "sample")


def _error(status: int, detail: str) -> JsonResponse:
    code = {400: "invalid", 413: "too_large", 415: "unsupported", 429: "rate_limited"}[status]
    return JsonResponse({"code": code, "detail": detail}, status=status)


def _bounded(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_FIELD_CHARS]


def violations(payload: Any) -> list[dict[str, str]]:
    """The violations in either report shape, with the logged fields only, bounded."""
    if isinstance(payload, dict) and isinstance(payload.get("csp-report"), dict):
        bodies = [{FIELDS.get(k, k): v for k, v in payload["csp-report"].items()}]
    elif isinstance(payload, list):
        bodies = [
            item["body"]
            for item in payload[:MAX_REPORTS]
            if isinstance(item, dict)
            and item.get("type") == "csp-violation"
            and isinstance(item.get("body"), dict)
        ]
    else:
        raise InvalidInput("Expected a CSP report or a list of Reporting API reports.")
    return [
        {field: _bounded(body[field]) for field in LOGGED if body.get(field) not in (None, "")}
        for body in bodies
    ]


@csrf_exempt
@require_POST
def csp_report(request: HttpRequest) -> HttpResponse:
    content_type = request.content_type or ""
    if content_type not in CONTENT_TYPES:
        return _error(415, "Send application/csp-report or application/reports+json.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "Bad Content-Length.")
    if length > MAX_BODY_BYTES:
        return _error(413, f"A report body is at most {MAX_BODY_BYTES} bytes.")
    address = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        ratelimit.hit(f"csp-report:{address}", limit=PER_ADDRESS_PER_MINUTE, window_seconds=60)
        ratelimit.hit("csp-report:all", limit=PER_SITE_PER_MINUTE, window_seconds=60)
    except RateLimited as exc:
        response = _error(429, str(exc))
        response["Retry-After"] = "60"
        return response
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"A report body is at most {MAX_BODY_BYTES} bytes.")
    try:
        found = violations(jsonsafe.loads(body, repair=True, max_depth=8))
    except InvalidInput as exc:
        return _error(400, str(exc))
    for violation in found:
        logger.warning(
            "CSP violation: %s",
            " ".join(f"{key}={value!r}" for key, value in violation.items()),
            extra={"csp_violation": violation, "client_address": address},
        )
    return HttpResponse(status=204)
