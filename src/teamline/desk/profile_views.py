"""My profile: where an agent's phone calls ring, set in the desk instead of through the API,
and the language the desk speaks to them.

One form, the same action as `PUT /api/v1/me/call-endpoint` (accounts.actions
.do_set_call_endpoint): ring "my phone number" (E.164, checked against the numbering plan) or
"the provider's softphone" (`client:<username>`, a browser or app client signed in at the
provider). A number that cannot be dialled is a 400 with the reason next to the field, never a
silent drop; what was saved is said and announced. A plain form post works without JavaScript
(redirect back); htmx swaps the form in place.

The desk language (accounts.actions.do_set_desk_language) is a plain form post answered by a
redirect: the whole page changes language, so it is read again rather than swapped in part.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from teamline.accounts.actions import (
    do_set_call_endpoint,
    do_set_desk_language,
    do_set_keyboard_shortcuts,
)
from teamline.accounts.models import AgentProfile, CallVia
from teamline.accounts.phone import MAX_PHONE_INPUT
from teamline.accounts.queries import find_profile
from teamline.core.errors import InvalidInput
from teamline.core.jsonsafe import check_text

from .views import agent_of, announce, desk_view, is_htmx


def saved_sentence(profile: AgentProfile) -> str:
    if profile.call_via == CallVia.CLIENT:
        return _("Your calls now ring on the provider's softphone as %(endpoint)s.") % {
            "endpoint": profile.call_endpoint
        }
    return _("Your calls now ring on %(number)s.") % {"number": profile.phone_number}


def desk_languages() -> list[dict[str, str]]:
    """The desk's languages for the picker: code, name in that language, and its BCP 47 tag
    (the option's `lang`, so a screen reader reads "Norsk bokmål" as Norwegian)."""
    return [
        {"code": str(code), "name": str(name), "tag": translation.to_locale(code).replace("_", "-")}
        for code, name in settings.LANGUAGES
    ]


def render_profile(
    request: HttpRequest, extra: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    agent = agent_of(request)
    profile = find_profile(agent)
    context: dict[str, Any] = {
        "section": "profile",
        "profile": profile,
        "phone_number": profile.phone_number if profile else "",
        "call_via": profile.call_via if profile else CallVia.PHONE,
        "client_endpoint": f"client:{agent.get_username()}",
        "max_phone": MAX_PHONE_INPUT,
        "error": "",
        "languages": desk_languages(),
        "desk_language": agent.language,
    }
    context.update(extra or {})
    template = "desk/_profile_form.html" if is_htmx(request) else "desk/profile.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@desk_view
def profile(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render_profile(request)
    agent = agent_of(request)
    phone_number = request.POST.get("phone_number", "")[: MAX_PHONE_INPUT + 1]
    call_via = request.POST.get("call_via", "")[:20]
    try:
        check_text(phone_number, _("The phone number"))
        saved = do_set_call_endpoint(
            agent, phone_number=phone_number, call_via=call_via, actor=agent
        )
    except InvalidInput as exc:
        context = {"error": exc.message, "phone_number": phone_number, "call_via": call_via}
        return render_profile(request, context, status=400)
    sentence = saved_sentence(saved)
    if is_htmx(request):
        return announce(render_profile(request, {"saved": sentence}), sentence)
    flash.success(request, sentence)
    return redirect("desk:profile")


@require_http_methods(["POST"])
@desk_view
def profile_language(request: HttpRequest) -> HttpResponse:
    agent = agent_of(request)
    language = request.POST.get("language", "")[:20]
    check_text(language, _("The language"))
    saved = do_set_desk_language(agent, language=language, actor=agent)
    # Said in the language just chosen: the flash is read on the next page.
    with translation.override(saved.language or translation.get_language()):
        if saved.language:
            flash.success(
                request,
                _("The desk now speaks %(language)s.")
                % {"language": dict(settings.LANGUAGES)[saved.language]},
            )
        else:
            flash.success(request, _("The desk now follows your browser's language."))
    return redirect("desk:profile")


@require_http_methods(["POST"])
@desk_view
def profile_shortcuts(request: HttpRequest) -> HttpResponse:
    """The desk's keyboard shortcuts on or off (accounts.actions.do_set_keyboard_shortcuts): a
    plain form post answered by a redirect, so every page after it follows the choice."""
    agent = agent_of(request)
    value = request.POST.get("keyboard_shortcuts", "")
    if value not in ("on", "off"):
        raise InvalidInput(_("Choose whether the keyboard shortcuts are on or off."))
    do_set_keyboard_shortcuts(agent, enabled=value == "on", actor=agent)
    if value == "on":
        flash.success(request, _("Keyboard shortcuts are on."))
    else:
        flash.success(request, _("Keyboard shortcuts are off."))
    return redirect("desk:profile")
