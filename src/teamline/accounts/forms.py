"""The staff sign-in form: allauth's LoginForm with the contract's throttle
(accounts/throttle.py) in front of the password check. The desk and the admin both sign in
through it (accounts/views.py, accounts/admin_site.py)."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import LoginForm
from django import forms
from django.utils.translation import gettext_lazy as _

from teamline.audit.actions import do_record_failed_login

from . import throttle

MAX_LOGIN_LENGTH = 1000


class SignInForm(LoginForm):
    """Refuses to check a password while the account/address is throttled, and counts every
    failure. allauth's own per-account limit on passwords is skipped (AccountAdapter's
    pre_authenticate): it would let an attacker lock agents out."""

    retry_after: int = 0

    throttled_message = _(
        "Too many failed sign-ins. Wait %(minutes)s minute(s) and try again, or ask an admin to "
        "reset your password."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = kwargs.get("data")
        if data is not None and "login" not in data and "username" in data:
            # Scripts and tests that post Django's field name (`username`) keep working.
            data = data.copy()
            data["login"] = data["username"]
            kwargs["data"] = data
        super().__init__(*args, **kwargs)
        # Bounded, but wider than a username: an over-long name is a failed sign-in like any
        # other (throttled and audited, bounded there), not a form error that skips both.
        self.fields["login"] = forms.CharField(
            label=_("Username"),
            max_length=MAX_LOGIN_LENGTH,
            widget=forms.TextInput(attrs={"autocomplete": "username"}),
        )
        self.order_fields(["login", "password"])

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("login")
        password = self.cleaned_data.get("password")
        if self._errors or not (username and password):
            return super().clean()
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
        try:
            cleaned: dict[str, Any] = super().clean()
        except forms.ValidationError:
            throttle.record_failure(username, address)
            raise
        throttle.record_success(username, address)
        return cleaned

    @property
    def throttled(self) -> bool:
        return self.retry_after > 0
