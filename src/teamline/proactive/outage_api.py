"""Outages in the JSON API (docs/proactive.md, "Outages"): `GET/POST /api/v1/outages`,
`POST /api/v1/outages/{id}/end`.

Mounted with the admin routers' authentication (a token needs the `admin` scope on top of
`read`/`write`, or a desk session) and only for admins: the operator's network systems post
outages with an admin's token. Supervisors declare and end outages on the desk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema
from ninja.responses import Status
from pydantic import AwareDatetime, ConfigDict, StrictBool, ValidationError

from teamline.accounts.models import User
from teamline.core import jsonsafe
from teamline.core.apischema import MAX_ID, errors, text_field
from teamline.core.errors import Forbidden, InvalidInput

from .models import OutageSource
from .outages import (
    MAX_MESSAGE,
    MAX_REGION,
    MAX_REGIONS,
    MAX_TITLE,
    access_outage,
    do_declare_outage,
    do_end_outage,
    do_update_outage,
    present_outage,
)
from .queries import recent_outages

outages_router = Router(tags=["outages"])

OutageId = Annotated[int, Path(..., ge=1, le=MAX_ID, description="The outage's id.")]
Region = Annotated[str, text_field(max_length=MAX_REGION)]


class OutageIn(Schema):
    regions: list[Region] = Field(..., min_length=1, max_length=MAX_REGIONS)
    title: str = text_field(max_length=MAX_TITLE)
    message: str = text_field(max_length=MAX_MESSAGE, description="What customers are told.")
    critical: bool = Field(False, description="Notices ignore quiet hours.")
    expected_end: AwareDatetime | None = None


class EndIn(Schema):
    message: str | None = text_field(
        default=None, max_length=MAX_MESSAGE, description="The follow-up customers are told."
    )


class OutageChangeIn(Schema):
    """The fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = text_field(default=None, max_length=MAX_TITLE)
    message: str | None = text_field(
        default=None, max_length=MAX_MESSAGE, description="What customers are told."
    )
    critical: StrictBool | None = None
    expected_end: AwareDatetime | None = Field(None, description="null: not known.")


class OutageOut(Schema):
    id: int
    regions: list[str]
    title: str
    message: str
    critical: bool
    expected_end: datetime | None
    source: str
    declared_by: str | None
    started_at: datetime
    ended_at: datetime | None
    follow_up: str | None
    active: bool


def _admin(request: HttpRequest) -> User:
    actor = cast(User, request.auth)  # type: ignore[attr-defined]
    if not actor.is_admin:
        raise Forbidden("Only admins can use the outages API; supervisors use the desk.")
    return actor


@outages_router.get(
    "",
    response={200: list[OutageOut], **errors(403)},
    summary="Active outages, then recent ended ones",
    operation_id="list_outages",
)
def list_outages(request: HttpRequest) -> Any:
    """The active outages (newest first), then the ended ones (most recently ended first),
    200 in all."""
    _admin(request)
    return [present_outage(o) for o in recent_outages()]


@outages_router.post(
    "",
    response={201: OutageOut, **errors(400, 403, 409, 422)},
    summary="Declare an outage",
    operation_id="declare_outage",
)
def declare_outage(request: HttpRequest, payload: OutageIn) -> Any:
    """Affected customers who consent to outage notices are told (quiet hours respected unless
    `critical`); the bots, the IVR, the widget and routing know about it at once."""
    outage = do_declare_outage(
        regions=payload.regions,
        title=payload.title,
        message=payload.message,
        critical=payload.critical,
        expected_end=payload.expected_end,
        source=OutageSource.API,
        actor=_admin(request),
    )
    return Status(201, present_outage(outage))


@outages_router.patch(
    "/{outage_id}",
    response={200: OutageOut, **errors(400, 403, 404, 409, 422)},
    summary="Change what an active outage says",
    operation_id="update_outage",
)
def update_outage(request: HttpRequest, outage_id: OutageId, payload: OutageChangeIn) -> Any:
    """Change the title, the message customers are told, `critical` or the expected end
    (null: not known) of an active outage. The open widgets of its regions show the new
    words at once; customers already told are not told again. 409 for an ended outage or an
    expected end in the past."""
    actor = _admin(request)
    outage = access_outage(actor, outage_id)
    changes = payload.model_dump(exclude_unset=True)
    for name in ("title", "message", "critical"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be null.")
    return present_outage(do_update_outage(outage, changes=changes, actor=actor))


@outages_router.post(
    "/{outage_id}/end",
    response={200: OutageOut, **errors(400, 403, 404, 409, 422)},
    summary="End an outage and send its follow-up",
    operation_id="end_outage",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": EndIn.model_json_schema()}},
        }
    },
)
def end_outage(request: HttpRequest, outage_id: OutageId) -> Any:
    """The follow-up (`message`, or a default) goes to everyone notified and everyone who
    contacted us during the outage. The body is optional (`{"message": str}`, at most
    1,000 characters); ending twice is a 409."""
    actor = _admin(request)
    outage = access_outage(actor, outage_id)
    body = jsonsafe.loads_structure(request.body) if request.body.strip() else {}
    if not isinstance(body, dict):
        raise InvalidInput('The body is an object: {"message": "…"}.')
    try:
        message = EndIn.model_validate(body).message
    except ValidationError as exc:
        raise InvalidInput(f"message: {exc.errors()[0]['msg']}") from exc
    return present_outage(do_end_outage(outage, follow_up=message, actor=actor))
