"""How sure we are, right now, that the person in a conversation is the customer: the levels,
the methods that reach each level, how long a verification lasts, and what each level allows.

One table each, read by the bots (selfservice/bot.py) and shown to agents in the desk next to
the conversation's level (docs/security.md, "Customer step-up").

    none    nobody proved anything in this conversation
    code    the person typed a one-time code sent to an identity already proven to be the
            customer's (SMS to their phone, email, the in-app channel): possession
    strong  a passkey bound to the customer record, or the brand's own sign-in (OIDC)

A level is held by the conversation (conversations.Conversation.verification_*) and lapses
VERIFIED_FOR after it was reached: a chat left open overnight is not still verified tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# How long a reached level lasts in its conversation.
VERIFIED_FOR = timedelta(minutes=30)
# How long a step-up request waits for the customer (the code itself lives codes.CODE_TTL).
STEP_UP_TTL = timedelta(minutes=10)


class Level(IntEnum):
    NONE = 0
    CODE = 1
    STRONG = 2

    @property
    def key(self) -> str:
        return self.name.lower()


LEVEL_LABELS = {
    Level.NONE: _("Not verified"),
    Level.CODE: _("Verified by one-time code"),
    Level.STRONG: _("Strongly verified"),
}

# Methods: how a level was reached. Values are stored on the conversation and in the API.
SMS_CODE = "sms_code"
EMAIL_CODE = "email_code"
APP_CODE = "app_code"
PASSKEY = "passkey"
OIDC = "oidc"

METHOD_LEVEL: dict[str, Level] = {
    SMS_CODE: Level.CODE,
    EMAIL_CODE: Level.CODE,
    APP_CODE: Level.CODE,
    PASSKEY: Level.STRONG,
    OIDC: Level.STRONG,
}

# The system line on the timeline and in the desk ("Customer verified by SMS code").
METHOD_LABELS = {
    SMS_CODE: _("SMS code"),
    EMAIL_CODE: _("email code"),
    APP_CODE: _("in-app code"),
    PASSKEY: _("passkey"),
    OIDC: _("the brand's sign-in"),
}

# A request to verify by signing in, not by a code: the customer is offered the sign-in methods
# the request names (StepUp.methods), each reaching `strong` as above.
SIGN_IN = "sign_in"
SIGN_IN_METHODS = (OIDC, PASSKEY)

# The code method for each kind of identity a code can be sent to.
CODE_METHOD_FOR_KIND = {"phone": SMS_CODE, "email": EMAIL_CODE, "external": APP_CODE}


@dataclass(frozen=True)
class Capability:
    key: str
    label: str | Promise  # lazy: said in the language of whoever reads it
    needs: Level


# What each level allows. The bots check `allows(level, key)`; the desk lists the rows.
ACCOUNT_DATA = "account_data"
ACCOUNT_CHANGES = "account_changes"
GENERAL_HELP = "general_help"
CAPABILITIES: tuple[Capability, ...] = (
    Capability(GENERAL_HELP, _("General help, opening hours, outages by area"), Level.NONE),
    Capability(
        ACCOUNT_DATA, _("Balance, data left, bills: anything from the telco backend"), Level.CODE
    ),
    Capability(
        ACCOUNT_CHANGES,
        _("Changes to the subscription: plan, SIM swap, contact details"),
        Level.STRONG,
    ),
)
_NEEDS = {c.key: c.needs for c in CAPABILITIES}


def current_level(level: int, at: datetime | None, now: datetime) -> Level:
    """The level a conversation holds at `now`: NONE once VERIFIED_FOR has passed since `at`."""
    if not level or at is None or now - at >= VERIFIED_FOR:
        return Level.NONE
    return Level(level)


def allows(level: int, capability: str) -> bool:
    """Whether `level` is enough for `capability` (KeyError for an unknown one: a typo in a
    caller must not silently allow anything)."""
    return int(level) >= _NEEDS[capability]


def allowed(level: int) -> list[Capability]:
    return [c for c in CAPABILITIES if int(level) >= c.needs]
