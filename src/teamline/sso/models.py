"""Single sign-on: which identity-provider groups make a Teamline user, with which role and in
which teams (docs/security.md, "Single sign-on").

A user who signs in through SSO is created on their first sign-in (just in time) when at least
one of their groups has a mapping, and on every sign-in their role and their teams follow their
groups (sso/actions.py). Local sign-up stays closed: SSO is the only way in without an admin."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from teamline.accounts.models import Role
from teamline.core.jsonsafe import text_problem
from teamline.teams.models import Team

MAX_GROUP_LENGTH = 255


def validate_group(value: str) -> None:
    problem = text_problem(value)
    if problem or not value.strip():
        raise ValidationError(_("A group name is text without NUL or lone surrogates."))


class GroupMapping(models.Model):
    """One identity-provider group → a role and team memberships.

    `provider` is the provider's id as configured (e.g. "keycloak" for OIDC, the organisation
    slug for SAML); empty means any provider. A user in several mapped groups gets the highest
    of their roles (agent < supervisor < admin) and the union of the teams."""

    provider = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("The provider id as configured (empty: any single sign-on provider)."),
    )
    group = models.CharField(
        max_length=MAX_GROUP_LENGTH,
        validators=[validate_group],
        help_text=_(
            "The group exactly as the provider sends it in the groups claim or attribute "
            "(Keycloak: /support-north with full paths on; Entra ID: the group's object id)."
        ),
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    member_of = models.ManyToManyField(
        Team, blank=True, related_name="+", help_text=_("Teams the user works in.")
    )
    supervisor_of = models.ManyToManyField(
        Team, blank=True, related_name="+", help_text=_("Teams the user supervises.")
    )

    class Meta:
        ordering = ["provider", "group"]
        constraints = [models.UniqueConstraint(fields=["provider", "group"], name="sso_group_once")]
        verbose_name = _("group mapping")

    def __str__(self) -> str:
        return f"{self.provider or '*'}:{self.group} → {self.role}"
