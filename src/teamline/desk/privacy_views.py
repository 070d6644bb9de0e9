"""Customer privacy on the desk: a remote agent reveals one masked value for a reason, and
whoever may handle privacy requests exports a customer's data or erases the customer.

Reveal (customers.actions.do_reveal_customer_field) answers the one value in a partial that
replaces the mask, never cached (desk_view) and never snapshotted by htmx (historyCacheSize 0).
Export and erasure are privacy's actions, audited there; the erasure runs in the durable task
and its page polls a status partial (queued → running → done), announced politely.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teamline.core.errors import InvalidInput
from teamline.customers.actions import MAX_REVEAL_REASON, do_reveal_customer_field
from teamline.customers.masking import ShownField
from teamline.customers.queries import access_customer
from teamline.privacy.actions import do_export_customer, do_request_erasure
from teamline.privacy.queries import access_customer_for_privacy, erasure_of, erasure_stage

from .views import agent_of, announce, desk_view, is_htmx, safe_next

# The DOM anchor of a shown value (customers/masking.py), echoed back by the reveal form.
ANCHOR = re.compile(r"^(identity|attribute)-[0-9]{1,9}$")
STAGE_SENTENCES = {
    "queued": gettext_lazy("Queued: the erasure waits for a worker."),
    "running": gettext_lazy("Running: the customer's data is being erased."),
    "done": gettext_lazy("Done: the customer's data is erased."),
}


# --- Reveal ---------------------------------------------------------------------------------


@require_POST
@desk_view
def reveal_customer_field(request: HttpRequest, customer_id: int) -> HttpResponse:
    """One masked value of a customer the agent may see, for the reason they typed; audited
    as `customer.revealed`. htmx: the value's partial in place of the mask (or the form again
    with the error, 400); otherwise a page with the value and a way back."""
    agent = agent_of(request)
    customer = access_customer(agent, customer_id)
    field = (request.POST.get("field") or "")[:200]
    anchor = request.POST.get("anchor") or ""
    if not ANCHOR.fullmatch(anchor):
        raise InvalidInput(_("The reveal form is incomplete; reload the page."))
    label = (request.POST.get("label") or "")[:100]
    reason = request.POST.get("reason") or ""
    try:
        value = do_reveal_customer_field(
            customer, field, reason[: MAX_REVEAL_REASON * 2], actor=agent, request=request
        )
    except InvalidInput as exc:
        masked = (request.POST.get("masked") or "")[:400]
        item = ShownField(field=field, label=label, value=masked, masked=True, anchor=anchor)
        context = {
            "customer": customer,
            "item": item,
            "reveal_error": exc.message,
            "reason": reason[:MAX_REVEAL_REASON],
            "max_reason": MAX_REVEAL_REASON,
        }
        if is_htmx(request):
            return render(request, "desk/_shown_value.html", context, status=exc.status)
        raise
    context = {"customer": customer, "anchor": anchor, "label": label, "value": value}
    if is_htmx(request):
        response = render(request, "desk/_revealed.html", context)
        return announce(response, _("%(label)s revealed: %(value)s") % context)
    context["section"] = "conversation"
    context["back"] = safe_next(request, reverse("desk:inbox"))
    return render(request, "desk/revealed.html", context)


# --- Export and erasure ---------------------------------------------------------------------


@require_GET
@desk_view
def export_customer(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer's archive as a download (privacy/archive.py); audited as
    `customer.exported`. 403 for anyone who may not handle privacy requests."""
    agent = agent_of(request)
    customer = access_customer_for_privacy(agent, customer_id)
    archive = do_export_customer(customer, actor=agent, request=request)
    response = FileResponse(
        archive,
        as_attachment=True,
        filename=f"customer-{customer.pk}.zip",
        content_type="application/zip",
    )
    return response  # type: ignore[return-value]  # streaming; desk_view only adds headers


@require_http_methods(["GET", "POST"])
@desk_view
def erase_customer(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET: the confirmation, saying what goes and what stays (or, once asked, where the
    erasure stands). POST: ask for the erasure (idempotent: asking twice erases once), then
    back to this page, which follows its progress."""
    agent = agent_of(request)
    customer = access_customer_for_privacy(agent, customer_id)
    if request.method == "POST":
        if request.POST.get("confirm") != "erase":
            raise InvalidInput(_("Tick the box to confirm the erasure."))
        do_request_erasure(customer, actor=agent, request=request)
        return HttpResponseRedirect(reverse("desk:erase_customer", args=[customer.pk]))
    erasure = erasure_of(customer.pk)
    context: dict[str, Any] = {
        "section": "conversation",
        "customer": customer,
        "erasure": erasure,
        "stage": erasure_stage(erasure) if erasure else None,
        "stage_sentences": STAGE_SENTENCES,
    }
    return render(request, "desk/erase.html", context)


@require_GET
@desk_view
def erasure_status(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The erasure's progress partial, polled by the erase page while it is not done. When
    the stage is the one the page shows (`?seen=`), 204: nothing is swapped, so the live
    region announces only changes."""
    agent = agent_of(request)
    customer = access_customer_for_privacy(agent, customer_id)
    erasure = erasure_of(customer.pk)
    stage = erasure_stage(erasure) if erasure else None
    if stage is not None and request.GET.get("seen") == stage:
        return HttpResponse(status=204)
    context = {
        "customer": customer,
        "erasure": erasure,
        "stage": stage,
        "stage_sentences": STAGE_SENTENCES,
    }
    return render(request, "desk/_erasure_status.html", context)
