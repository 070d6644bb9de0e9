"""django-allauth's adapter for staff sign-in (docs/security.md, "Staff sign-in and MFA").

Staff accounts are made by admins (the admin, `teamline createadmin`), never by signing up on
the sign-in page: local sign-up is closed. Single sign-on opens it only for accounts provisioned
through a social account (its own adapter)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _


class AccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        # The message staff knew from Django's sign-in form.
        "username_password_mismatch": _(
            "Please enter a correct username and password. Note that both fields may be "
            "case-sensitive."
        ),
    }

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False
