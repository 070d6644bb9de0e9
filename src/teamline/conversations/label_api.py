"""The admin's labels in the JSON API: every staff member lists them; only admins define,
change and remove them (403 otherwise). Putting labels on conversations is
/conversations/{id}/labels (conversations/api.py)."""

from __future__ import annotations

from typing import Annotated, Any, cast

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import ConfigDict

from teamline.accounts.models import User
from teamline.core.apischema import errors, text_field

from .labels import (
    MAX_LABEL_DESCRIPTION,
    MAX_LABEL_NAME,
    access_label,
    all_labels,
    do_create_label,
    do_delete_label,
    do_update_label,
)
from .models import Label

router = Router(tags=["labels"])

# Not blank, no NUL, and something besides digits (a name of digits would read as an id).
NAME_PATTERN = r"^[^\x00]*[^\s\x00\x1c-\x1f\x850-9][^\x00]*$"

LabelRef = Annotated[
    str, Path(..., max_length=MAX_LABEL_NAME, description="The label's id or its name.")
]


class LabelDetailOut(Schema):
    id: int
    name: str
    colour: str = Field(description="#rrggbb; the desk always shows the name with it.")
    description: str


class LabelListOut(Schema):
    items: list[LabelDetailOut]


class LabelWriteIn(Schema):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1,
        max_length=MAX_LABEL_NAME,
        pattern=NAME_PATTERN,
        description="Unique whatever its case; not only digits (ids name labels too).",
    )
    colour: str = Field(pattern=r"^#[0-9a-fA-F]{6}$", description="A hex colour: #1a7f37.")
    description: str = text_field(default="", max_length=MAX_LABEL_DESCRIPTION, blank=True)


def _actor(request: HttpRequest) -> User:
    return cast(User, request.auth)  # type: ignore[attr-defined]


def _present(label: Label) -> dict[str, Any]:
    return {
        "id": label.pk,
        "name": label.name,
        "colour": label.colour,
        "description": label.description,
    }


@router.get(
    "",
    response={200: LabelListOut, **errors()},
    summary="List labels",
    operation_id="list_labels",
)
def list_labels(request: HttpRequest) -> Any:
    """Every label, by name (there are few: an admin defines them)."""
    return {"items": [_present(label) for label in all_labels()[:1000]]}


@router.post(
    "",
    response={201: LabelDetailOut, **errors(400, 403, 409, 422)},
    summary="Define a label (admins)",
    operation_id="create_label",
)
def create_label(request: HttpRequest, payload: LabelWriteIn) -> Any:
    """409 when a label of that name exists in any case."""
    label = do_create_label(
        name=payload.name,
        colour=payload.colour,
        description=payload.description,
        actor=_actor(request),
    )
    return Status(201, _present(label))


@router.put(
    "/{label}",
    response={200: LabelDetailOut, **errors(400, 403, 404, 409, 422)},
    summary="Rename or recolour a label (admins)",
    operation_id="update_label",
)
def update_label(request: HttpRequest, label: LabelRef, payload: LabelWriteIn) -> Any:
    """New name, colour and description; the conversations keep it. 409 for a name taken."""
    actor = _actor(request)
    found = do_update_label(
        access_label(actor, label),
        name=payload.name,
        colour=payload.colour,
        description=payload.description,
        actor=actor,
    )
    return _present(found)


@router.delete(
    "/{label}",
    response={204: None, **errors(403, 404, 422)},
    summary="Remove a label (admins)",
    operation_id="delete_label",
)
def delete_label(request: HttpRequest, label: LabelRef) -> Any:
    """It comes off every conversation; their timelines keep that it was on."""
    actor = _actor(request)
    do_delete_label(access_label(actor, label), actor=actor)
    return Status(204, None)
