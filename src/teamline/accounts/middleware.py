"""The staff session check of every signed-in request (accounts/sessions.py).

Lazy, like Django's own `request.user`: the check runs when something first asks who the user
is (every desk page, the admin, the API's session auth), so a request that never does — a
provider's webhook, a static file — costs no query for it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from teamline.core.languages import default_language, language_from_header, supported_language

from .actions import check_staff_session
from .mfa import mfa_satisfied
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


# The pages staff read: the desk (with its partials and JavaScript catalog) and allauth's
# sign-in, second-factor and passkey pages. Customer-facing pages (the widget, the help center)
# speak the customer's language and are left alone.
STAFF_PREFIXES = ("/desk/", "/accounts/")


def staff_language(request: HttpRequest) -> str:
    """The desk language for this request: the signed-in staff member's own choice
    (User.language), else the first of their browser's Accept-Language tags the desk speaks
    (zh-TW → zh-hant, nb-NO → nb: core/languages.py), else the installation's default."""
    chosen = ""
    # Only a request with a session can have a signed-in user; none spends no query on it.
    if settings.SESSION_COOKIE_NAME in request.COOKIES:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            chosen = getattr(user, "language", "") or ""
    return (
        supported_language(chosen)
        or language_from_header(request.headers.get("Accept-Language"))
        or default_language()
    )


class StaffLanguageMiddleware:
    """Activates the staff member's desk language for desk pages, their htmx partials and
    the desk's JavaScript catalog (and allauth's pages), says it in Content-Language and
    varies the response on Accept-Language. After the session check (the user's choice is
    on the user row it loads) and before anything that writes text: messages, MFA refusals."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(STAFF_PREFIXES):
            return self.get_response(request)
        language = staff_language(request)
        request.LANGUAGE_CODE = language
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language",))
        return response


# What a session that must first set up a second factor may still reach: allauth's pages
# (setting one up, confirming the password, signing out), the sign-in and sign-out, and what
# has no staff session at all (static files, webhooks, the widget, the help center).
MFA_OPEN_PREFIXES = (
    "/accounts/",
    "/desk/login/",
    "/desk/logout/",
    "/desk/jsi18n/",
    "/static/",
    "/media/",
    "/health/",
    "/csp-report/",
    "/webhooks/",
    "/widget/",
    "/help/",
)


class MFARequiredMiddleware:
    """Staff whose role requires a second factor (accounts.MFARequirement) and who have none
    can do nothing but set one up: pages redirect to the two-factor page, htmx requests are
    told to go there (HX-Redirect), session calls to the API get a 403. API tokens are not
    sessions and are not affected. After StaffSessionMiddleware and allauth's middleware."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._may_pass(request):
            return self.get_response(request)
        return self._refuse(request)

    def _may_pass(self, request: HttpRequest) -> bool:
        if request.path.startswith(MFA_OPEN_PREFIXES):
            return True
        # No session cookie: nobody is signed in (a webhook, a token call); no query spent.
        if settings.SESSION_COOKIE_NAME not in request.COOKIES:
            return True
        if "HTTP_AUTHORIZATION" in request.META:  # an API token, never a session
            return True
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True
        return mfa_satisfied(request.session, user)

    def _refuse(self, request: HttpRequest) -> HttpResponse:
        message = _(
            "Your role requires two-factor sign-in. Set up an authenticator app or a passkey "
            "to continue."
        )
        enrol = reverse("mfa_index")
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message, "code": "mfa_required"}, status=403)
        if request.headers.get("HX-Request"):
            response = HttpResponse(message, status=403, content_type="text/plain")
            response["HX-Redirect"] = enrol
            return response
        if request.method == "GET":
            messages.warning(request, message)
        return HttpResponseRedirect(enrol)
