"""The browser-hardening headers Django and django-csp do not set by themselves.

- `Permissions-Policy`: the camera, microphone and screen sharing only on the pages that hold
  calls (the desk, the widget's demo page); nothing else may ask for them, and no page for the
  rest.
- `Reporting-Endpoints`: where the browser sends CSP violation reports (`report-to csp`).
- Framing: the desk, the admin and the API are never framed (`frame-ancestors 'none'`,
  `X-Frame-Options: DENY`); the public pages (help center, widget demo) may be framed by the
  brand sites in `TEAMLINE_FRAME_ANCESTORS`, and then only by them.

The Content-Security-Policy itself is django-csp's (settings.CONTENT_SECURITY_POLICY);
Referrer-Policy, nosniff and Cross-Origin-Opener-Policy are Django's SecurityMiddleware's.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Pages where an agent or a customer takes a browser call (desk/webrtc.js, the widget's call).
CALL_PAGES = ("/desk/", "/widget/")
# Public pages a brand may embed in its own site.
EMBEDDABLE_PAGES = ("/help/", "/widget/")

_DENIED = (
    "geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), midi=(), "
    "magnetometer=(), gyroscope=(), accelerometer=(), browsing-topics=(), interest-cohort=()"
)
# A call may also share a screen (the customer shows the agent what they see).
PERMISSIONS_FOR_CALLS = (
    f"camera=(self), microphone=(self), display-capture=(self), autoplay=(self), {_DENIED}"
)
PERMISSIONS_DEFAULT = f"camera=(), microphone=(), display-capture=(), autoplay=(self), {_DENIED}"


def permissions_policy(path: str) -> str:
    return PERMISSIONS_FOR_CALLS if path.startswith(CALL_PAGES) else PERMISSIONS_DEFAULT


class BrowserHardeningMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        path = request.path_info
        response.headers.setdefault("Permissions-Policy", permissions_policy(path))
        response.headers.setdefault("Reporting-Endpoints", f'csp="{settings.CSP_REPORT_URL}"')
        ancestors = list(getattr(settings, "FRAME_ANCESTORS", []))
        if ancestors and path.startswith(EMBEDDABLE_PAGES):
            # django-csp reads this when it writes the header (it runs after us).
            response._csp_replace = {"frame-ancestors": ancestors}  # type: ignore[attr-defined]
            # X-Frame-Options knows no list of origins; frame-ancestors replaces it.
            if "X-Frame-Options" in response.headers:
                del response.headers["X-Frame-Options"]
        return response
