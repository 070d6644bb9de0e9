"""The staff session check on every request of a signed-in browser (accounts/sessions.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse

from .actions import check_staff_session
from .sessions import current_session


class StaffSessionMiddleware:
    """Checks the StaffSession of every signed-in browser (see the module's docstring)."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session_id = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            session_id = check_staff_session(request)
            if session_id is None:
                request.session.flush()
                request.user = AnonymousUser()
        token = current_session.set(session_id)
        try:
            return self.get_response(request)
        finally:
            current_session.reset(token)
