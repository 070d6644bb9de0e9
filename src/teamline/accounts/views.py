"""Sign-in: allauth's LoginView (second factor, passkeys) with the throttled form, a 429 while
throttled and the known-device cookie once the password was right (accounts/throttle.py)."""

from __future__ import annotations

from typing import Any

from allauth.account.views import LoginView
from django.http import HttpResponse

from . import throttle


class SignInView(LoginView):
    """`desk:login` (LOGIN_URL) and the admin's sign-in. The template is allauth's
    `account/login.html`, overridden in the desk's look."""

    def form_valid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_valid(form)
        # The password was right: this browser is no longer a stranger to the account, even
        # while its second factor is still to come (the throttle counts passwords only).
        throttle.remember_device(self.request, response, form.cleaned_data["login"])
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        response: HttpResponse = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response
