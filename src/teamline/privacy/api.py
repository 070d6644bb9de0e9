"""Privacy requests in the JSON API, beside the customer they name (mounted at /customers):

    GET  /api/v1/customers/{id}/export   → 200, a ZIP of everything about the customer
    POST /api/v1/customers/{id}/erase    → 202, the erasure done by a durable task
    GET  /api/v1/customers/{id}/erasure  → 200, where that erasure stands (404 if none)

Admins only: an admin's session, an admin's unscoped token or an admin's token with the
`privacy` scope (a token scoped otherwise, even an admin's `read` token: 403). Anyone else:
403, before the id is looked at. Both requests are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import FileResponse, HttpRequest
from ninja import Field, Path, Router, Schema, Status

from teamline.accounts.models import User
from teamline.core.apischema import MAX_ID, errors
from teamline.core.errors import NotFound

from .actions import do_export_customer, do_request_erasure
from .models import Erasure, ErasureState
from .queries import access_customer_for_privacy, erasure_of, erasure_stage

router = Router(tags=["privacy"])

CustomerId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The customer's id.")]


class ErasureOut(Schema):
    customer_id: int
    state: ErasureState = Field(description="requested, then done once the task ran.")
    stage: str = Field(description="queued, running (a worker started it) or done.")
    requested_at: datetime
    requested_by: str = Field(description="The username of the admin who asked.")
    completed_at: datetime | None
    removed: dict[str, int] = Field(description="What was removed, in numbers, once done.")


def present_erasure(erasure: Erasure) -> dict[str, Any]:
    return {
        "customer_id": erasure.customer_id_copy,
        "state": erasure.state,
        "stage": erasure_stage(erasure),
        "requested_at": erasure.requested_at,
        "requested_by": erasure.requested_by,
        "completed_at": erasure.completed_at,
        "removed": erasure.removed or {},
    }


@router.get(
    "/{customer_id}/export",
    response={200: None, **errors(403, 404, 422)},
    summary="Export everything about a customer (ZIP)",
    operation_id="export_customer",
)
def export_customer(request: HttpRequest, customer_id: CustomerId) -> Any:
    """A ZIP archive of JSON files (profile, identities, conversations, messages with internal
    notes, timeline, calls, routing, self-service, audit entries) and the attachment files,
    recordings included; `manifest.json` lists what it holds. Admins only. Audited as
    `customer.exported`; changes nothing, so it can be asked again."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer_for_privacy(actor, customer_id)
    archive = do_export_customer(customer, actor=actor, request=request)
    return FileResponse(
        archive,
        as_attachment=True,
        filename=f"customer-{customer.pk}.zip",
        content_type="application/zip",
    )


@router.post(
    "/{customer_id}/erase",
    response={202: ErasureOut, **errors(403, 404, 422)},
    summary="Erase a customer",
    operation_id="erase_customer",
)
def erase_customer(request: HttpRequest, customer_id: CustomerId) -> Any:
    """Delete the customer's identities, message texts, attachments and recordings, names and
    attributes; keep anonymised counts, times and outcomes and the fact of the erasure. Done
    by a durable task: the answer is 202 with the erasure's state. Asking again answers the
    same erasure (idempotent). Admins only. Audited as `customer.erased`."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer_for_privacy(actor, customer_id)
    erasure, _ = do_request_erasure(customer, actor=actor, request=request)
    return Status(202, present_erasure(erasure))


@router.get(
    "/{customer_id}/erasure",
    response={200: ErasureOut, **errors(403, 404, 422)},
    summary="Where a customer's erasure stands",
    operation_id="get_customer_erasure",
)
def get_erasure(request: HttpRequest, customer_id: CustomerId) -> Any:
    """The erasure of the customer: requested or done, when, by whom, what was removed.
    404 if none was asked for. Admins only."""
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    customer = access_customer_for_privacy(actor, customer_id)
    erasure = erasure_of(customer.pk)
    if erasure is None:
        raise NotFound("No erasure was asked for this customer.")
    return present_erasure(erasure)
