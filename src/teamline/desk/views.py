"""The agent desk: inbox, conversation, presence and API tokens.

Views are thin (parse → action → render) and every id from a request goes through an access
helper. One view, two renderings: a full page, or — for htmx requests — the partial named by the
`HX-Target` header, which is also what desk.js re-renders when a live event arrives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teamline.accounts.actions import (
    do_create_api_token,
    do_ensure_agent_profile,
    do_revoke_api_token,
    do_set_presence,
)
from teamline.accounts.models import Presence, TokenScope, User
from teamline.accounts.queries import access_api_token, tokens_of
from teamline.audit.actions import do_audit
from teamline.audit.models import AuditAction
from teamline.conversations.actions import do_change_status, do_mark_read, do_merge_customers
from teamline.conversations.attachments import OCTET_STREAM, is_inline_safe, prepare_uploads
from teamline.conversations.labels import access_label
from teamline.conversations.models import Conversation, Status
from teamline.conversations.queries import (
    ReplyChannel,
    access_attachment,
    access_conversation,
    customer_timeline,
    default_reply_channel,
    inbox_conversations,
    messages_of,
    past_conversations,
    reachable_channels,
    with_last_message,
)
from teamline.conversations.replies import do_add_note, do_send_reply
from teamline.core.errors import Forbidden, InvalidInput, NotFound, TeamlineError
from teamline.core.languages import language_names, supported_language
from teamline.customers.actions import (
    ATTRIBUTE_VALUE_MAX,
    do_set_bots_opt_out,
    do_set_consent,
    do_set_customer_attribute,
    do_set_preferred_language,
)
from teamline.customers.masking import Sensitive, shown, shown_attributes, shown_identities
from teamline.customers.models import ConsentTopic, Customer, LanguageSource
from teamline.customers.queries import (
    access_customer,
    has_consent,
    identities_of,
    merge_suggestions,
    merges_into,
    opted_out_of_bots,
)
from teamline.privacy.queries import may_handle_privacy_requests
from teamline.proactive.queries import outages_of_conversation

from .suggestions import suggestions_for
from .template_panel import template_context
from .templatetags.desk_tags import desk_datetime
from .timeline import editable_attribute_keys, timeline_entries

# Inbox views, in the order of the "Inbox views" navigation.
VIEWS = {
    "mine": (gettext_lazy("Mine"), gettext_lazy("assigned to me")),
    "unassigned": (gettext_lazy("Unassigned"), gettext_lazy("waiting for an agent in my teams")),
    "team": (gettext_lazy("Team"), gettext_lazy("in my teams")),
}
STATUS_FILTERS = [
    (Status.OPEN.value, gettext_lazy("Open")),
    (Status.PENDING.value, gettext_lazy("Pending")),
    (Status.SNOOZED.value, gettext_lazy("Snoozed")),
    (Status.RESOLVED.value, gettext_lazy("Resolved")),
]
# The inbox shows the most urgent and recent conversations; the count says how many there are.
INBOX_LIMIT = 100
# "Snooze for" choices: minutes → label.
SNOOZE_CHOICES = [
    ("60", gettext_lazy("1 hour")),
    ("240", gettext_lazy("4 hours")),
    ("1440", gettext_lazy("1 day")),
    ("4320", gettext_lazy("3 days")),
    ("10080", gettext_lazy("1 week")),
]
STATUS_ANNOUNCEMENTS = {
    Status.OPEN: gettext_lazy("Conversation reopened."),
    Status.PENDING: gettext_lazy("Conversation set to pending."),
    Status.RESOLVED: gettext_lazy("Conversation resolved."),
}

View = Callable[..., HttpResponse]


# --- Helpers --------------------------------------------------------------------------------


def is_htmx(request: HttpRequest) -> bool:
    # A history-restore request wants the whole page even though htmx sent it.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def hx_target(request: HttpRequest) -> str:
    return request.headers.get("HX-Target", "") if is_htmx(request) else ""


def agent_of(request: HttpRequest) -> User:
    """The signed-in staff member (views are all behind login_required)."""
    return cast(User, request.user)


def with_triggers(response: HttpResponse, **events: Any) -> HttpResponse:
    """Ask htmx to fire client events (e.g. an announcement for the polite live region)."""
    response["HX-Trigger"] = json.dumps({name.replace("_", ":"): v for name, v in events.items()})
    return response


def announce(response: HttpResponse, text: str, **events: Any) -> HttpResponse:
    return with_triggers(response, desk_announce=text, **events)


def desk_view(view: View) -> View:
    """Login required, never cached (customer data), Vary on htmx headers, and any
    TeamlineError rendered as its 4xx page — or partial, for htmx — instead of a 500."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except TeamlineError as exc:
            response = error_response(request, exc)
        patch_vary_headers(response, ["HX-Request", "HX-Target"])
        return response

    return login_required(never_cache(wrapper))


ERROR_TITLES = {
    404: gettext_lazy("Not found"),
    403: gettext_lazy("Not allowed"),
    429: gettext_lazy("Too many requests"),
}


def error_response(request: HttpRequest, exc: TeamlineError) -> HttpResponse:
    context = {
        "title": ERROR_TITLES.get(exc.status, _("Something is not right")),
        "message": exc.message,
        "section": "",
    }
    template = "desk/_error.html" if is_htmx(request) else "desk/error.html"
    if hx_target(request) == "desk-panes":
        template = "desk/_panes_error.html"
    return render(request, template, context, status=exc.status)


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


PRESENCE_SENTENCES: dict[str, Any] = {
    Presence.AVAILABLE.value: gettext_lazy("You are available."),
    Presence.BUSY.value: gettext_lazy("You are busy."),
    Presence.AWAY.value: gettext_lazy("You are away."),
    Presence.WRAP_UP.value: gettext_lazy("You are in wrap-up."),
    Presence.OFFLINE.value: gettext_lazy("You are offline."),
}


# --- Presence -------------------------------------------------------------------------------


@require_POST
@desk_view
def presence(request: HttpRequest) -> HttpResponse:
    agent = agent_of(request)
    value = request.POST.get("presence", "")
    if value not in Presence.values:
        error = _("Choose a presence from the list.")
        if is_htmx(request):
            return render(request, "desk/_presence_status.html", {"error": error}, status=400)
        raise InvalidInput(error)
    do_ensure_agent_profile(agent)
    profile = do_set_presence(agent, value, actor=agent)
    sentence = str(PRESENCE_SENTENCES.get(profile.presence, _("Presence changed.")))
    if is_htmx(request):
        return render(request, "desk/_presence_status.html", {"sentence": sentence})
    flash.success(request, sentence)
    return redirect(safe_next(request, reverse("desk:inbox")))


# --- Inbox ----------------------------------------------------------------------------------


def list_context(request: HttpRequest) -> dict[str, Any]:
    """The conversation list (the desk's left pane): the inbox view and status filter named in
    the query string (mine / open by default), the views' counts and the first INBOX_LIMIT rows
    with each one's last message. The same on the inbox and on a conversation's page, so the
    list stays where it was while the agent switches conversations."""
    agent = agent_of(request)
    view = request.GET.get("view") or "mine"
    status = request.GET.get("status") or Status.OPEN.value
    if view not in VIEWS:
        raise NotFound(_("No such inbox view."))
    if status not in dict(STATUS_FILTERS):
        raise NotFound(_("No such status."))
    # A label narrows every view (conversations.labels.access_label: its id or name).
    label = access_label(agent, request.GET["label"]) if request.GET.get("label") else None
    label_id = label.pk if label is not None else None
    counts = {
        key: inbox_conversations(agent, view=key, status=status, label_id=label_id).count()
        for key in VIEWS
    }
    conversations = list(
        with_last_message(inbox_conversations(agent, view=view, status=status, label_id=label_id))[
            :INBOX_LIMIT
        ]
    )
    status_label = dict(STATUS_FILTERS)[status]
    # The list's own query (kept on the links, so a conversation opened from the team's
    # pending list shows that list beside it); empty for the default list.
    params = {"view": view, "status": status}
    if label is not None:
        params["label"] = str(label.pk)
    query = "" if params == {"view": "mine", "status": Status.OPEN.value} else urlencode(params)
    return {
        "view": view,
        "status": status,
        "status_filters": STATUS_FILTERS,
        "views": [
            {"key": key, "label": label, "count": counts[key], "current": key == view}
            for key, (label, _why) in VIEWS.items()
        ],
        "heading": _("%(status)s conversations %(which)s")
        % {"status": status_label, "which": VIEWS[view][1]},
        "conversations": conversations,
        "total": counts[view],
        "status_label": status_label,
        "label_filter": label,
        "list_query": f"?{query}" if query else "",
        "list_url": reverse("desk:inbox") + (f"?{query}" if query else ""),
    }


@require_GET
@desk_view
def inbox(request: HttpRequest) -> HttpResponse:
    context = {"section": "inbox", **list_context(request), **layout_context(request)}
    if hx_target(request) == "inbox-list" or (is_htmx(request) and not hx_target(request)):
        return render(request, "desk/_inbox_list.html", context)
    return render(request, "desk/inbox.html", context)


def layout_context(request: HttpRequest, *, partial: bool = False) -> dict[str, Any]:
    """Which skeleton the inbox and conversation templates extend: the three panes (a full
    page), or only the middle and right panes (an htmx switch between conversations)."""
    return {"desk_layout": "desk/_panes.html" if partial else "desk/three_pane.html"}


# --- Conversation ---------------------------------------------------------------------------


def conversation_context(agent: User, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "section": "conversation",
        "conversation": conversation,
        "customer": conversation.customer,
        "customer_language": customer_language_field(conversation.customer),
        "snooze_choices": SNOOZE_CHOICES,
        "client_id": uuid.uuid4().hex,
        "attachments_max": settings.TEAMLINE["AGENT_ATTACHMENTS_MAX"],
        "attachment_limit": settings.TEAMLINE["ATTACHMENT_MAX_BYTES"],
    }
    context.update(extra)
    return context


def reply_context(
    conversation: Conversation, via: str = "", *, channels: list[ReplyChannel] | None = None
) -> dict[str, Any]:
    """The "Reply via" choices: the customer's channels, the last used one selected, the
    unreachable ones disabled with the reason. `channels`: reachable_channels' list when the
    view already read it."""
    if channels is None:
        channels = reachable_channels(conversation.customer, team_id=conversation.team_id)
    default = default_reply_channel(channels)
    selected = via or (default.key if default else "")
    return {
        "reply_channels": channels,
        "reply_via": selected,
        "reply_default": default,
        "unreachable_channels": [c for c in channels if not c.reachability.reachable],
        # WhatsApp (Cloud API) past its 24-hour window: the template panel reaches them.
        "whatsapp_window_closed": any(
            not c.reachability.reachable and c.inbox is not None and c.inbox.kind == "whatsapp"
            for c in channels
        ),
    }


def render_conversation_page(
    request: HttpRequest, conversation: Conversation, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """The conversation in the desk's three panes."""
    return render_conversation(request, conversation, status=status, partial=False, extra=extra)


def render_conversation(
    request: HttpRequest,
    conversation: Conversation,
    *,
    status: int,
    partial: bool,
    extra: dict[str, Any],
) -> HttpResponse:
    """The conversation in the desk's three panes; `partial`: only the middle and right panes
    (the htmx switch from the list: the list stays as it is)."""
    agent = agent_of(request)
    context = conversation_context(agent, conversation, **extra)
    context.update(layout_context(request, partial=partial))
    if not partial:
        context.update(list_context(request))
    channels = context.get("reply_channels")
    if channels is None:
        channels = reachable_channels(conversation.customer, team_id=conversation.team_id)
        context.update(reply_context(conversation, channels=channels))
    selected = (request.GET.get("template") or "").strip()[:20]
    context.update(template_context(conversation, channels, selected=selected))
    context.update(
        {
            "history_messages": history_of(conversation),
            "identities": shown_identities(identities_of(conversation.customer), agent),
            "attributes": shown_attributes(conversation.customer.attributes, agent),
            "may_handle_privacy": may_handle_privacy_requests(agent),
            "past": past_conversations(agent, conversation),
            "timeline": timeline_entries(
                customer_timeline(agent, conversation.customer_id),
                merges_into(conversation.customer),
            ),
            "attribute_keys": editable_attribute_keys(conversation.customer),
            "attribute_next": reverse("desk:conversation", args=[conversation.pk]),
            "merge_suggestions": merge_suggestions(agent, conversation.customer),
            "bots_opted_out": opted_out_of_bots(conversation.customer),
            "consents": consent_rows(conversation.customer),
            "merges": merges_into(conversation.customer),
            "suggestions": suggestions_for(conversation),
            "outages": outages_of_conversation(conversation.pk),
        }
    )
    return render(request, "desk/conversation.html", context, status=status)


def history_of(conversation: Conversation) -> Any:
    return messages_of(conversation, include_internal=True).prefetch_related("attachments")


@require_GET
@desk_view
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    target = hx_target(request)
    if target == "conversation-status":
        return render(request, "desk/_conversation_status.html", conversation_context(agent, conv))
    if target == "suggestions":
        # The customer wrote again: suggestions.js asks for the articles that now match.
        return render(
            request,
            "desk/_suggestions.html",
            {"conversation": conv, "suggestions": suggestions_for(conv)},
        )
    # The assignee looking at the conversation has read it (a no-op when nothing is unread).
    do_mark_read(conv, actor=agent)
    if target.startswith("message-"):
        # A live delivery update (message.updated) re-renders that one message.
        items = history_of(conv).filter(pk=_int(target.removeprefix("message-")))
        return render(
            request,
            "desk/_history_items.html",
            {"history_messages": items, "conversation": conv, "customer": conv.customer},
        )
    if target == "history-list":
        # Live updates fetch only what is newer than the last message shown, so the log
        # region announces just the new messages.
        items = history_of(conv)
        after = request.GET.get("after", "")
        if after:
            try:
                items = items.filter(pk__gt=int(after))
            except ValueError as exc:
                raise InvalidInput("`after` is a message id.") from exc
        return render(
            request,
            "desk/_history_items.html",
            {"history_messages": items, "conversation": conv, "customer": conv.customer},
        )
    # Opening the conversation (not its live updates above) is a read of customer data.
    do_audit(
        AuditAction.CONVERSATION_VIEWED,
        actor=agent,
        target_type="conversation",
        target_id=conv.pk,
        request=request,
        data={"customer": conv.customer_id, "via": "desk"},
    )
    return render_conversation(request, conv, status=200, partial=target == "desk-panes", extra={})


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise NotFound("No such message.") from exc


def blank_error(text: str, fallback: str, message: str) -> str:
    return fallback if not (text or "").strip() else message


@require_POST
@desk_view
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    text = request.POST.get("text", "")
    client_id = (request.POST.get("client_id") or "").strip()[:64] or None
    via = (request.POST.get("via") or "").strip()[:500] or None
    # The form shown again after an htmx reply lists the customer's channels: read once, for
    # the reply's choice and for the form.
    channels = reachable_channels(conv.customer, team_id=conv.team_id) if is_htmx(request) else None
    uploads = request.FILES.getlist("files")
    try:
        files = prepare_uploads(uploads)
        message, _created = do_send_reply(
            conv,
            text,
            actor=agent,
            client_id=client_id,
            via=via,
            options=channels,
            attachments=files,
        )
    except InvalidInput as exc:
        empty = not uploads and not (text or "").strip()
        error = _("Write a reply before sending.") if empty else exc.message
        extra = {"reply_error": error, "reply_text": text, "focus_reply": True}
        extra.update(reply_context(conv, via or "", channels=channels))
        if is_htmx(request):
            context = conversation_context(agent, conv, **extra)
            return render(request, "desk/_reply_form.html", context, status=400)
        return render_conversation_page(request, conv, status=400, **extra)
    if is_htmx(request):
        context = conversation_context(
            agent, conv, focus_reply=True, **reply_context(conv, channels=channels)
        )
        response = render(request, "desk/_reply_form.html", context)
        sentence = (
            _("Reply sent.") if message.channel == "webchat" else _("Reply queued for delivery.")
        )
        return announce(response, sentence, desk_history=True)
    return HttpResponseRedirect(reverse("desk:conversation", args=[conv.pk]) + "#reply-form")


@require_POST
@desk_view
def note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    text = request.POST.get("text", "")
    try:
        do_add_note(conv, text, actor=agent)
    except InvalidInput as exc:
        error = blank_error(text, _("Write the note before adding it."), exc.message)
        extra = {"note_error": error, "note_text": text, "focus_note": True}
        if is_htmx(request):
            context = conversation_context(agent, conv, **extra)
            return render(request, "desk/_note_form.html", context, status=400)
        return render_conversation_page(request, conv, status=400, **extra)
    if is_htmx(request):
        context = conversation_context(agent, conv, focus_note=True)
        response = render(request, "desk/_note_form.html", context)
        return announce(response, _("Note added."), desk_history=True)
    return HttpResponseRedirect(reverse("desk:conversation", args=[conv.pk]) + "#note-form")


@require_POST
@desk_view
def change_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    agent = agent_of(request)
    conv = access_conversation(agent, conversation_id)
    status = request.POST.get("status", "")
    snooze_until = None
    try:
        if status == Status.SNOOZED:
            minutes = dict(SNOOZE_CHOICES).get(request.POST.get("snooze_for", ""))
            if minutes is None:
                raise InvalidInput(_("Choose how long to snooze the conversation."))
            snooze_until = timezone.now() + timedelta(minutes=int(request.POST["snooze_for"]))
        do_change_status(conv, status, actor=agent, snooze_until=snooze_until)
    except InvalidInput as exc:
        extra = {"status_error": exc.message}
        if is_htmx(request):
            context = conversation_context(agent, conv, **extra)
            return render(request, "desk/_conversation_status.html", context, status=400)
        return render_conversation_page(request, conv, status=400, **extra)
    conv = access_conversation(agent, conv.pk)  # fresh, with team and assignee
    if status == Status.SNOOZED and conv.snoozed_until:
        until = desk_datetime(conv.snoozed_until)
        sentence = _("Conversation snoozed until %(until)s.") % {"until": until}
    else:
        sentence = str(STATUS_ANNOUNCEMENTS.get(Status(status), _("Status changed.")))
    if is_htmx(request):
        context = conversation_context(agent, conv)
        return announce(render(request, "desk/_conversation_status.html", context), sentence)
    flash.success(request, sentence)
    return redirect("desk:conversation", conversation_id=conv.pk)


# --- Attachments ----------------------------------------------------------------------------


@require_GET
@desk_view
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """An attachment, to staff who may see its conversation. Only safe raster images are shown
    inline; everything else is a download, and nothing is ever rendered as HTML or SVG."""
    found = access_attachment(agent_of(request), attachment_id)
    inline = is_inline_safe(found) and request.GET.get("download") != "1"
    content_type = found.content_type or OCTET_STREAM
    response = FileResponse(
        found.file.open("rb"),
        content_type=content_type,
        as_attachment=not inline,
        filename=found.filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return cast(HttpResponse, response)  # a streaming response; desk_view only adds headers


# --- Customers: merge ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@desk_view
def merge_customer(request: HttpRequest, customer_id: int, source_id: int) -> HttpResponse:
    """Review (GET) and confirm (POST) merging customer `source_id` into `customer_id`.
    Both go through access_customer; the merge itself is do_merge_customers (audited)."""
    agent = agent_of(request)
    target = access_customer(agent, customer_id)
    source = access_customer(agent, source_id)
    back = safe_next(request, reverse("desk:inbox"))
    if request.method == "POST":
        reason = (request.POST.get("reason") or "").strip()
        do_merge_customers(source, target, actor=agent, reason=reason)
        flash.success(
            request,
            _("%(source)s was merged into %(target)s.")
            % {
                "source": shown(agent, Sensitive.NAME, source.display_name),
                "target": shown(agent, Sensitive.NAME, target.display_name),
            },
        )
        return HttpResponseRedirect(back)
    context = {
        "section": "conversation",
        "target": target,
        "source": source,
        "source_identities": shown_identities(identities_of(source), agent),
        "target_identities": shown_identities(identities_of(target), agent),
        "source_conversations": source.conversations.count(),
        "next": back,
    }
    return render(request, "desk/merge.html", context)


# --- Customers: bots -------------------------------------------------------------------------


@require_http_methods(["POST"])
@desk_view
def customer_bots(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer's wish about bots, recorded by the agent (customers.actions.
    do_set_bots_opt_out): opted out, every message goes straight to the team."""
    agent = agent_of(request)
    customer = access_customer(agent, customer_id)
    value = request.POST.get("opted_out")
    if value not in ("true", "false"):
        raise InvalidInput(_("opted_out must be true or false."))
    do_set_bots_opt_out(customer, value == "true", actor=agent)
    name = shown(agent, Sensitive.NAME, customer.display_name)
    if value == "true":
        flash.success(request, _("%(customer)s will not get a bot.") % {"customer": name})
    else:
        flash.success(request, _("The bot may answer %(customer)s again.") % {"customer": name})
    return HttpResponseRedirect(safe_next(request, reverse("desk:inbox")))


# --- Customers: attributes -----------------------------------------------------------------


def attributes_context(agent: User, customer: Customer, **extra: Any) -> dict[str, Any]:
    return {
        "customer": customer,
        "attributes": shown_attributes(customer.attributes, agent),
        "attribute_keys": editable_attribute_keys(customer),
        **extra,
    }


@require_http_methods(["POST"])
@desk_view
def customer_attribute(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Set one of the customer's attributes, or clear it with an empty value (customers.actions
    .do_set_customer_attribute, audited). htmx swaps the panel's attributes section and says
    what changed; a plain post is redirected back with the same sentence."""
    agent = agent_of(request)
    customer = access_customer(agent, customer_id)
    key = request.POST.get("key", "")[:100]
    value = request.POST.get("value", "")[: ATTRIBUTE_VALUE_MAX + 1]
    try:
        do_set_customer_attribute(customer, key, value, actor=agent, request=request)
    except InvalidInput as exc:
        if is_htmx(request):
            context = attributes_context(
                agent,
                customer,
                attribute_error=exc.message,
                attribute_key=key[:40],
                attribute_next=safe_next(request, reverse("desk:inbox")),
            )
            return render(request, "desk/_customer_attributes.html", context, status=400)
        raise
    key = key.strip().lower()
    if value.strip():
        sentence = _("Attribute %(key)s saved.") % {"key": key}
    else:
        sentence = _("Attribute %(key)s cleared.") % {"key": key}
    if is_htmx(request):
        context = attributes_context(
            agent,
            customer,
            attribute_saved=sentence,
            attribute_next=safe_next(request, reverse("desk:inbox")),
        )
        return announce(render(request, "desk/_customer_attributes.html", context), sentence)
    flash.success(request, sentence)
    return HttpResponseRedirect(safe_next(request, reverse("desk:inbox")))


# --- Customers: language -------------------------------------------------------------------

LANGUAGE_SOURCES: dict[str, Any] = {
    LanguageSource.CHOSEN: gettext_lazy("Chosen by the customer or an agent."),
    LanguageSource.DETECTED: gettext_lazy("Detected from the customer's messages."),
    LanguageSource.CHANNEL: gettext_lazy("From the customer's browser, email or app."),
}


def customer_language_field(customer: Customer) -> dict[str, Any]:
    """The customer panel's language field: the six to pick from, the current one (a tag from
    before the six, e.g. pt-BR, shows as the language it maps to) and where it came from."""
    code = supported_language(customer.preferred_language) or ""
    if not customer.preferred_language:
        source = _("Teamline learns it from the customer's browser, app or messages.")
    else:
        source = str(
            LANGUAGE_SOURCES.get(customer.language_source, LANGUAGE_SOURCES[LanguageSource.CHOSEN])
        )
    return {"code": code, "choices": language_names(), "source": source}


@require_http_methods(["POST"])
@desk_view
def customer_language(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer's language, recorded by the agent (customers.actions.
    do_set_preferred_language): every text Teamline sends them follows it; "" lets Teamline
    learn it again."""
    agent = agent_of(request)
    customer = access_customer(agent, customer_id)
    do_set_preferred_language(customer, request.POST.get("language", "")[:35], actor=agent)
    if customer.preferred_language:
        name = dict(language_names()).get(customer.preferred_language, customer.preferred_language)
        flash.success(
            request,
            _("%(customer)s's language is %(language)s.")
            % {"customer": customer.display_name, "language": name},
        )
    else:
        flash.success(
            request,
            _("Teamline will learn %(customer)s's language again.")
            % {"customer": customer.display_name},
        )
    return HttpResponseRedirect(safe_next(request, reverse("desk:inbox")))


# --- Customers: consent for proactive notices -------------------------------------------------

# The topics an agent records a customer's wish for (customers.models.ConsentTopic).
DESK_CONSENT_TOPICS = [
    ConsentTopic.DATA_CAP,
    ConsentTopic.OUTAGE,
    ConsentTopic.PROMOTIONAL,
    ConsentTopic.SURVEYS,
]
# The topics as the desk names them, in the agent's language (the model keeps English labels).
CONSENT_LABELS = {
    ConsentTopic.DATA_CAP: gettext_lazy("Data-cap reminders"),
    ConsentTopic.OUTAGE: gettext_lazy("Outage notices"),
    ConsentTopic.PROMOTIONAL: gettext_lazy("Offers and promotions"),
    ConsentTopic.SURVEYS: gettext_lazy("Satisfaction surveys"),
}


def consent_rows(customer: Customer) -> list[dict[str, Any]]:
    """Each topic with whether the customer gets it now (their choice, else the default)."""
    return [
        {
            "topic": topic.value,
            "label": str(CONSENT_LABELS[topic]),
            "granted": has_consent(customer, topic),
        }
        for topic in DESK_CONSENT_TOPICS
    ]


@require_http_methods(["POST"])
@desk_view
def customer_consent(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer's wish about one topic of proactive notices (data-cap reminders, outage
    notices, offers), recorded by the agent (customers.actions.do_set_consent, source desk)."""
    agent = agent_of(request)
    customer = access_customer(agent, customer_id)
    topic = request.POST.get("topic", "")
    value = request.POST.get("granted")
    if topic not in {t.value for t in DESK_CONSENT_TOPICS} or value not in ("true", "false"):
        raise InvalidInput(_("Choose a topic and whether the customer wants it."))
    do_set_consent(customer, topic, value == "true", source="desk", actor=agent)
    label = str(CONSENT_LABELS[ConsentTopic(topic)])
    name = shown(agent, Sensitive.NAME, customer.display_name)
    if value == "true":
        flash.success(
            request, _("%(customer)s gets %(topic)s.") % {"customer": name, "topic": label}
        )
    else:
        flash.success(
            request, _("%(customer)s gets no %(topic)s.") % {"customer": name, "topic": label}
        )
    return HttpResponseRedirect(safe_next(request, reverse("desk:inbox")))


# --- API tokens -----------------------------------------------------------------------------


# Days until a token made in the desk expires (0: never).
TOKEN_EXPIRY_CHOICES = [
    (0, gettext_lazy("Never")),
    (30, gettext_lazy("In 30 days")),
    (90, gettext_lazy("In 90 days")),
    (365, gettext_lazy("In a year")),
]


def render_tokens(
    request: HttpRequest, extra: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    agent = agent_of(request)
    context: dict[str, Any] = {
        "section": "tokens",
        "tokens": tokens_of(agent),
        "name": "",
        # Only admins may hold a privacy token (accounts.actions.do_create_api_token).
        "scope_choices": [
            (value, label)
            for value, label in TokenScope.choices
            if value != TokenScope.PRIVACY or agent.is_admin
        ],
        "scopes": [],
        "expiry_choices": TOKEN_EXPIRY_CHOICES,
        "expires_in_days": 0,
    }
    context.update(extra or {})
    template = "desk/_tokens.html" if is_htmx(request) else "desk/tokens.html"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@desk_view
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render_tokens(request)
    agent = agent_of(request)
    name = request.POST.get("name", "")
    scopes = request.POST.getlist("scopes")[:10]
    days = request.POST.get("expires_in_days", "0")
    try:
        if days not in {str(choice) for choice, _ in TOKEN_EXPIRY_CHOICES}:
            raise InvalidInput(_("Choose when the token expires from the list."))
        expires_at = timezone.now() + timedelta(days=int(days)) if int(days) else None
        token, secret = do_create_api_token(
            agent, name=name, actor=agent, scopes=scopes, expires_at=expires_at, request=request
        )
    except (InvalidInput, Forbidden) as exc:
        context = {"error": exc.message, "name": name, "scopes": scopes}
        return render_tokens(request, context, status=exc.status)
    # The secret exists only in this response: it is not stored and never rendered again.
    response = render_tokens(request, {"new_token": token, "new_secret": secret})
    return announce(response, _("Token %(name)s created. Copy it now.") % {"name": token.name})


@require_POST
@desk_view
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    agent = agent_of(request)
    token = access_api_token(agent, token_id)
    do_revoke_api_token(token, actor=agent, request=request)
    if is_htmx(request):
        return announce(render_tokens(request), _("Token %(name)s revoked.") % {"name": token.name})
    flash.success(request, _("Token %(name)s revoked.") % {"name": token.name})
    return redirect("desk:tokens")
