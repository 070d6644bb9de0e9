"""The widget's words, in the visitor's language: GET /widget/api/<inbox>/catalog.

The widget script carries no translations of its own: it asks this endpoint once per page (the
browser caches the answer) with the language tags it knows — the language Teamline stored for
the customer, the page's `lang`, the browser's languages — and builds its UI from the answer.
The tags are mapped by core.languages (zh-TW → zh-hant, no → nb, …); none Teamline speaks →
the inbox's default language. The answer is JSON (no script to evaluate, so a brand page's
strict Content-Security-Policy only needs to let the widget connect to Teamline, as it already
must), the same for everybody asking for the same tags, and public.

`WIDGET_TEXTS` lists every text of the widget script (English, the msgid); `WIDGET_PLURALS`
the (singular, plural) pairs. tests/widget/test_catalog.py checks that the script uses no text
that is not listed here, and tests/core/test_catalogs.py that each is translated.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import gettext, gettext_noop, ngettext

from teamline.connectors.queries import public_inbox
from teamline.core.errors import TeamlineError
from teamline.core.languages import (
    babel_locale,
    first_supported,
    inbox_language,
)

# Browsers keep the answer this long; a new deployment's words show within the hour.
MAX_AGE_SECONDS = 3600
MAX_TAGS = 12

WIDGET_TEXTS = (
    gettext_noop("Chat with us"),
    gettext_noop("Chat with %(name)s"),
    gettext_noop("Close chat"),
    gettext_noop("Your team"),
    gettext_noop("Conversation"),
    gettext_noop("Chat history"),
    gettext_noop("online"),
    gettext_noop("away"),
    gettext_noop("You"),
    gettext_noop("Automatic answer"),
    gettext_noop("Message"),
    gettext_noop("Send"),
    gettext_noop("Sending…"),
    gettext_noop("Not sent: %(reason)s"),
    gettext_noop("Not sent."),
    gettext_noop("Retry"),
    gettext_noop("Your message is too long (at most %(count)s characters)."),
    gettext_noop("A message was not sent: %(reason)s"),
    gettext_noop("A message was not sent."),
    gettext_noop("%(name)s is typing…"),
    gettext_noop("Your team is typing…"),
    gettext_noop("Talk to my team"),
    gettext_noop("I would like to talk to my team."),
    gettext_noop("Data-cap reminders"),
    # Waiting, callbacks and bookings
    gettext_noop("Your team will answer from %(time)s."),
    gettext_noop("You are number %(position)s in line."),
    gettext_noop("You are in line."),
    gettext_noop("We will call you back when it is your turn."),
    gettext_noop("Call me back instead"),
    gettext_noop("Book a time"),
    gettext_noop("Phone number"),
    gettext_noop("Call me"),
    gettext_noop("Choose a time"),
    gettext_noop("Phone number for the call"),
    gettext_noop("How"),
    gettext_noop("Chat here"),
    gettext_noop("Phone call"),
    gettext_noop("Book"),
    gettext_noop("Please try again."),
    gettext_noop("Please enter your phone number."),
    gettext_noop(
        "We will call you on %(phone)s when it is your turn. You keep your place in line."
    ),
    gettext_noop("We could not arrange the call: %(reason)s"),
    gettext_noop("There are no free times in the next days. You can keep waiting here."),
    gettext_noop("We could not load the free times: %(reason)s"),
    gettext_noop("Please choose a time."),
    gettext_noop("Booked: a call on %(phone)s, %(time)s."),
    gettext_noop("Booked: a chat here, %(time)s."),
    gettext_noop("We could not book that time: %(reason)s"),
    # Connection
    gettext_noop("Connecting…"),
    gettext_noop("Reconnecting…"),
    gettext_noop("Chat is not available right now."),
    gettext_noop("Chat is not available on this page."),
    gettext_noop("Chat is busy; trying again shortly…"),
    gettext_noop("Chat is temporarily unavailable; trying again shortly…"),
    gettext_noop("Not connected yet; try again in a moment."),
    # Verification (step-up) and passkeys
    gettext_noop("Verify it is you"),
    gettext_noop("Verification code"),
    gettext_noop("Verify"),
    gettext_noop("Verify with passkey"),
    gettext_noop(
        "Your team asked you to confirm it is you. Use the button below; no code is sent."
    ),
    gettext_noop(
        "Your team asked you to confirm it is you. Use one of the buttons below; no code is sent."
    ),
    gettext_noop(
        "Your team asked you to confirm it is you, but this browser cannot do it. "
        "Tell your team in the chat."
    ),
    gettext_noop("The request to verify has ended. Your team can ask again."),
    gettext_noop("Save a passkey for next time"),
    gettext_noop(
        "Your team asked you to confirm it is you. We sent a code by SMS to %(destination)s. "
        "Enter it here, not in the chat."
    ),
    gettext_noop(
        "Your team asked you to confirm it is you. We sent a code by email to "
        "%(destination)s. Enter it here, not in the chat."
    ),
    gettext_noop(
        "Your team asked you to confirm it is you. We sent a code to your app. Enter it here, "
        "not in the chat."
    ),
    gettext_noop(
        "Your team asked you to confirm it is you. We sent you a code. Enter it here, not in "
        "the chat."
    ),
    gettext_noop("Thank you, you are verified (%(method)s)."),
    gettext_noop("SMS code"),
    gettext_noop("email code"),
    gettext_noop("in-app code"),
    gettext_noop("passkey"),
    gettext_noop("sign-in"),
    gettext_noop("Sign in"),
    gettext_noop("Sign in with %(name)s"),
    gettext_noop("Allow pop-up windows for this page to sign in."),
    gettext_noop("Sign in in the window that opened…"),
    gettext_noop("Too many wrong codes. Your team can send a new one."),
    gettext_noop("The code expired. Your team can send a new one."),
    gettext_noop("Enter the six-digit code."),
    gettext_noop("Not connected. Try again in a moment."),
    gettext_noop("That did not work."),
    gettext_noop("Allow pop-up windows for this page to use a passkey."),
    gettext_noop("Passkey saved. Next time you can verify with it."),
    gettext_noop("The passkey was not used. You can try again."),
    gettext_noop("Use your device's screen lock to verify…"),
    gettext_noop("Use your device's screen lock to save a passkey…"),
    # Calls
    gettext_noop("Call us"),
    gettext_noop("Video call"),
    gettext_noop("Call"),
    gettext_noop("Start call"),
    gettext_noop("Start video call"),
    gettext_noop("Mute"),
    gettext_noop("Camera off"),
    gettext_noop("Share screen"),
    gettext_noop("End call"),
    gettext_noop("Cancel call"),
    gettext_noop("Calling your team…"),
    gettext_noop("Your team answered. Connecting…"),
    gettext_noop("Connected."),
    gettext_noop("You are on hold."),
    gettext_noop("Allow your microphone and camera to call."),
    gettext_noop("Allow your microphone to call."),
    gettext_noop(
        "We could not use your microphone or camera. Allow them in your browser to call us, "
        "or write to us here."
    ),
    gettext_noop(
        "We could not use your microphone. Allow it in your browser to call us, or write to "
        "us here."
    ),
    gettext_noop("The call has ended."),
    gettext_noop("The call could not be made."),
    gettext_noop("The connection to your team failed."),
    gettext_noop("The call could not be connected."),
    gettext_noop("The call ended: the connection to your team was lost."),
    gettext_noop("You are muted."),
    gettext_noop("Your microphone is on."),
    gettext_noop("Your camera is off."),
    gettext_noop("Your camera is on."),
    gettext_noop("You can share your screen once the call is connected."),
    gettext_noop("You stopped sharing your screen."),
    gettext_noop("Sharing your screen is not possible in this browser."),
    gettext_noop("You are sharing your screen."),
    gettext_noop("Your screen is not shared."),
    gettext_noop("You ended the call."),
)

# (singular, plural): the widget's tn() picks the form for a count.
WIDGET_PLURALS = (
    ("%(count)s new message", "%(count)s new messages"),
    ("and %(count)s more in the team", "and %(count)s more in the team"),
    ("The wait is about %(count)s minute.", "The wait is about %(count)s minutes."),
    ("The wait is about %(count)s hour.", "The wait is about %(count)s hours."),
)


def _ngettext_marks() -> None:  # pragma: no cover - only for message extraction
    ngettext("%(count)s new message", "%(count)s new messages", 2)
    ngettext("and %(count)s more in the team", "and %(count)s more in the team", 2)
    ngettext("The wait is about %(count)s minute.", "The wait is about %(count)s minutes.", 2)
    ngettext("The wait is about %(count)s hour.", "The wait is about %(count)s hours.", 2)


@lru_cache(maxsize=16)
def widget_catalog(language: str) -> tuple[str, str]:
    """(JSON body, ETag) of one language's catalog; built once per process and language."""
    with translation.override(language):
        words: dict[str, Any] = {text: gettext(text) for text in WIDGET_TEXTS}
        for singular, plural in WIDGET_PLURALS:
            # The forms for 1 and for many (every language here has at most these two).
            words[singular] = [ngettext(singular, plural, 1), ngettext(singular, plural, 2)]
    locale = babel_locale(language).replace("_", "-")
    body = json.dumps(
        {"language": language, "locale": locale, "words": words},
        ensure_ascii=False,
        sort_keys=True,
    )
    return body, '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def catalog_language(tags: str, inbox_config: dict[str, Any] | None) -> str:
    return first_supported((tags or "").split(",")[:MAX_TAGS]) or inbox_language(inbox_config)


def catalog(request: HttpRequest, inbox_public_id: Any) -> HttpResponse:
    """GET /widget/api/<inbox>/catalog?languages=zh-TW,en: {language, locale, words}.
    404 for an unknown inbox; any page may read it (it holds no one's data)."""
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = JsonResponse(
            {"code": "method_not_allowed", "detail": "Use GET."}, status=405
        )
        response["Allow"] = "GET, HEAD"
        return response
    try:
        inbox = public_inbox(inbox_public_id, kinds=("webchat", "app"))
    except TeamlineError as exc:
        return JsonResponse({"code": exc.code, "detail": exc.message}, status=exc.status)
    language = catalog_language(request.GET.get("languages", "")[:1000], inbox.config)
    body, etag = widget_catalog(language)
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["ETag"] = etag
    response["Access-Control-Allow-Origin"] = "*"
    response["Content-Language"] = language
    patch_cache_control(response, public=True, max_age=MAX_AGE_SECONDS)
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
