"""The staff session check of every signed-in request (accounts/sessions.py).

Lazy, like Django's own `request.user`: the check runs when something first asks who the user
is (every desk page, the admin, the API's session auth), so a request that never does — a
provider's webhook, a static file — costs no query for it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from .actions import check_staff_session
from .sessions import CurrentSession, current_session


class StaffSessionMiddleware:
    """Signs out a browser whose StaffSession ended or went idle (after AuthenticationMiddleware,
    which it wraps)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        here = CurrentSession()
        unchecked = getattr(request, "user", None)
        if unchecked is not None:

            def checked() -> Any:
                if not unchecked.is_authenticated:
                    return unchecked
                here.id = check_staff_session(request, unchecked)
                if here.id is None:
                    request.session.flush()
                    return AnonymousUser()
                return unchecked

            request.user = SimpleLazyObject(checked)  # type: ignore[assignment]
        token = current_session.set(here)
        try:
            return self.get_response(request)
        finally:
            current_session.reset(token)
