"""django-allauth's social-account adapter for staff single sign-on (docs/security.md, "Single
sign-on").

Every SSO sign-in passes `pre_social_login`: the provider's groups are read from the verified
id_token (or userinfo) claim, or the SAML attribute, named in the provider's settings; without a
mapped group the sign-in is refused with a page that says so (and audited), and no user is made.
A known user's role and teams are brought in line with their groups before they are signed in;
an unknown user is made just in time, with the plan's role and teams, right there in
`pre_social_login` (`_provision`), so allauth then signs in an existing user. Local sign-up
stays closed (accounts/adapters.py): this adapter opens sign-up only for a mapped social login.

Two first sign-ins of the same person at once (two tabs, a double click on the provider's
button) make one user: the unique social account (provider, uid) and username decide which
request makes it, and the other finds it and signs in as that user."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialAccount, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.shortcuts import render

from teamline.accounts.models import Role, User
from teamline.accounts.sessions import IDP_MFA_KEY

from .actions import do_apply_sso_plan, do_record_sso_refusal
from .queries import Plan, clean_groups, plan_for

# A first sign-in that lost a race (IntegrityError) looks again: the second attempt finds the
# user the winner made, or picks another username when two people collided on one.
PROVISION_ATTEMPTS = 3


def provider_key(sociallogin: SocialLogin) -> str:
    """The provider's id as mappings name it: the OIDC provider id, the SAML organisation."""
    provider = sociallogin.provider
    if provider.id == "saml":
        return str(provider.app.client_id)
    return str(provider.sub_id)


def _settings(sociallogin: SocialLogin) -> dict[str, Any]:
    return dict(sociallogin.provider.app.settings or {})


def groups_of(sociallogin: SocialLogin) -> list[str]:
    """The groups the provider says the user is in. OIDC: the claim named `groups_claim` in the
    app's settings (default "groups"), from the id_token (its signature, issuer, audience and
    expiry verified) or else from userinfo; SAML: the attribute named `groups_attribute`."""
    data = sociallogin.account.extra_data or {}
    settings = _settings(sociallogin)
    if sociallogin.provider.id == "saml":
        return clean_groups(data.get(settings.get("groups_attribute", "groups")))
    claim = settings.get("groups_claim", "groups")
    for source in ("id_token", "userinfo"):
        claims = data.get(source)
        if isinstance(claims, dict) and claim in claims:
            return clean_groups(claims[claim])
    return []


def idp_did_mfa(sociallogin: SocialLogin) -> bool:
    """Whether the identity provider says this sign-in used more than one factor: an OIDC
    `amr` value from the app's `mfa_amr` list, or a SAML provider configured as enforcing
    MFA itself (`idp_enforces_mfa`)."""
    settings = _settings(sociallogin)
    if sociallogin.provider.id == "saml":
        return bool(settings.get("idp_enforces_mfa"))
    claims = (sociallogin.account.extra_data or {}).get("id_token") or {}
    amr = claims.get("amr") if isinstance(claims, dict) else None
    if not isinstance(amr, list):
        return False
    return bool({str(each) for each in amr} & set(settings.get("mfa_amr", ())))


def _who(sociallogin: SocialLogin) -> str:
    user = sociallogin.user
    return str(getattr(user, "email", "") or sociallogin.account.uid or "")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def _refuse(self, request: HttpRequest, sociallogin: SocialLogin, reason: str) -> None:
        provider = provider_key(sociallogin)
        do_record_sso_refusal(_who(sociallogin), request, provider=provider, reason=reason)
        response = render(
            request,
            "sso/refused.html",
            {"reason": reason, "provider_name": sociallogin.provider.name},
            status=403,
        )
        raise ImmediateHttpResponse(response)

    def plan(self, sociallogin: SocialLogin) -> Plan | None:
        return plan_for(provider_key(sociallogin), groups_of(sociallogin))

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            # Staff do not link provider accounts themselves: a link decides who a directory
            # account signs in as, so an admin makes it (the admin's Social accounts).
            self._refuse(request, sociallogin, "connect_disabled")
            return
        plan = self.plan(sociallogin)
        if plan is None:
            self._refuse(request, sociallogin, "no_mapped_group")
            return
        request.session[IDP_MFA_KEY] = idp_did_mfa(sociallogin)
        if sociallogin.is_existing:
            user = sociallogin.user
            if isinstance(user, User) and user.is_active:
                do_apply_sso_plan(user, plan, provider=provider_key(sociallogin), request=request)
            return
        if sociallogin.state.get("process", AuthProcess.LOGIN) == AuthProcess.LOGIN:
            self._provision(request, sociallogin, plan)

    def _provision(self, request: HttpRequest, sociallogin: SocialLogin, plan: Plan) -> None:
        """Make the user of a first sign-in, or find the one a simultaneous first sign-in of
        the same person made (then sign in as them, their role and teams as for any known
        user). Each attempt looks, checks the email and creates in one transaction: on SQLite
        it holds the write lock from its start (IMMEDIATE), so the second request waits and
        then finds the user; on PostgreSQL the second insert waits for the first commit and
        fails on the unique (provider, uid) or username, and the next attempt finds it."""
        for attempt in range(PROVISION_ATTEMPTS):
            try:
                with transaction.atomic():
                    account = (
                        SocialAccount.objects.select_related("user")
                        .filter(provider=sociallogin.account.provider, uid=sociallogin.account.uid)
                        .first()
                    )
                    if account is not None:
                        self._adopt(request, sociallogin, account, plan)
                        return
                    if self._email_taken(sociallogin):
                        break
                    self._create(request, sociallogin, plan)
                    return
            except IntegrityError:
                if attempt == PROVISION_ATTEMPTS - 1:
                    raise
                _forget_unsaved(sociallogin)
        # Outside the transaction: the refusal's audit entry must stay.
        # Never take over an existing account (a break-glass admin, a local agent) because a
        # provider says the email is theirs: an admin links the two on purpose.
        self._refuse(request, sociallogin, "email_taken")

    def _email_taken(self, sociallogin: SocialLogin) -> bool:
        email = getattr(sociallogin.user, "email", "")
        return bool(email) and User.objects.filter(email__iexact=email).exists()

    def _adopt(
        self, request: HttpRequest, sociallogin: SocialLogin, account: SocialAccount, plan: Plan
    ) -> None:
        """The account a simultaneous first sign-in made: this login is now that user's, with
        the provider's latest data kept as allauth keeps it for a returning user."""
        account.extra_data = sociallogin.account.extra_data
        account.save(update_fields=["extra_data", "last_login"])
        sociallogin.account = account
        sociallogin.user = account.user
        user = account.user
        if isinstance(user, User) and user.is_active:
            do_apply_sso_plan(user, plan, provider=provider_key(sociallogin), request=request)

    def _create(self, request: HttpRequest, sociallogin: SocialLogin, plan: Plan) -> User:
        user = sociallogin.user
        assert isinstance(user, User)
        user.role = plan.role
        user.is_staff = user.is_superuser = plan.role == Role.ADMIN
        if user.username:
            # The provider's preferred username, unless someone has it (allauth's sign-up
            # checks the same): then allauth picks a free one from the name and email.
            try:
                get_account_adapter(request).clean_username(user.username)
            except ValidationError:
                user.username = ""
        with transaction.atomic():
            super().save_user(request, sociallogin, None)
            do_apply_sso_plan(
                user, plan, provider=provider_key(sociallogin), request=request, created=True
            )
        return user

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return self.plan(sociallogin) is not None

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        # pre_social_login makes every new SSO user (`_provision`); allauth's own sign-up path
        # reaches here only if that changes, and then makes the user the same way.
        plan = self.plan(sociallogin)
        if plan is None:  # the groups changed between the two reads: still refused
            self._refuse(request, sociallogin, "no_mapped_group")
            raise AssertionError("unreachable")
        return self._create(request, sociallogin, plan)

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        if str(error) == "cancelled":
            return
        key = str(provider.app.client_id if provider.id == "saml" else provider.sub_id)
        reason = "invalid_response"
        if exception is not None:
            reason = f"{type(exception).__name__}: {exception}"[:200]
        elif extra_context and extra_context.get("saml_last_error_reason"):
            reason = str(extra_context["saml_last_error_reason"])[:200]
        do_record_sso_refusal("", request, provider=key, reason=reason)


def _forget_unsaved(sociallogin: SocialLogin) -> None:
    """After a rolled-back attempt: the user, account and email rows it made are gone, so their
    instances are new again, and the username is chosen afresh (another person may hold it)."""
    user = sociallogin.user
    assert user is not None
    user.pk = None
    user._state.adding = True
    if isinstance(user, User):
        user.username = ""
    for instance in (sociallogin.account, *sociallogin.email_addresses):
        instance.pk = None
        instance._state.adding = True
