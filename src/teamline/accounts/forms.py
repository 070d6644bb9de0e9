"""Sign-in forms for the desk and the admin, both throttled (accounts/throttle.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from teamline.audit.actions import do_record_failed_login

from . import throttle


class ThrottledSignIn:
    """Mixin for Django's AuthenticationForm: refuse to check a password while the
    account/address is throttled, and count every failure."""

    request: Any
    cleaned_data: dict[str, Any]
    user_cache: Any
    retry_after: int = 0

    throttled_message = _(
        "Too many failed sign-ins. Wait %(minutes)s minute(s) and try again, or ask an admin to "
        "reset your password."
    )

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not (username and password):
            return self.cleaned_data
        address = throttle.client_address(self.request)
        verdict = throttle.check(
            username, address, known_device=throttle.is_known_device(self.request, username)
        )
        if not verdict.allowed:
            self.retry_after = verdict.retry_after
            do_record_failed_login(username, self.request, throttled=True)
            raise forms.ValidationError(
                self.throttled_message,
                code="throttled",
                params={"minutes": max(1, round(verdict.retry_after / 60))},
            )
        self.user_cache = authenticate(self.request, username=username, password=password)
        if self.user_cache is None:
            throttle.record_failure(username, address)
            raise self.get_invalid_login_error()  # type: ignore[attr-defined]
        self.confirm_login_allowed(self.user_cache)  # type: ignore[attr-defined]
        throttle.record_success(username, address)
        return self.cleaned_data

    @property
    def throttled(self) -> bool:
        return self.retry_after > 0


class SignInForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
