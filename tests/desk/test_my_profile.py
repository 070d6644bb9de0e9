"""My profile: an agent says in the desk where their phone calls ring — their phone number or
the provider's softphone — and the next call they accept rings there. A number that cannot be
dialled is refused next to the field; nothing is saved."""

import json

import pytest
from django.urls import reverse

from teamline.accounts.models import AgentProfile
from teamline.calls.phone import agent_endpoint

from .page import Page
from .support import get_page

pytestmark = pytest.mark.django_db

PROFILE = "/desk/profile/"


def profile_of(user) -> AgentProfile:
    return AgentProfile.objects.get(user=user)


def test_kari_sets_her_phone_number_and_the_calls_she_accepts_ring_there(as_kari, world):
    page = get_page(as_kari, reverse("desk:profile"))
    assert page.all("heading")[0].text == "My profile"
    (link,) = page.all("link", "My profile")
    assert link.get("aria-current") == "page"
    assert page.field("My phone number").get("type") == "radio"
    assert page.field("The provider's softphone").get("type") == "radio"
    number = page.field("Phone number")
    assert page.form_of(number) is page.form_of(page.button("Save where calls ring"))
    assert "cannot accept phone calls" in page.text

    response = as_kari.post(PROFILE, {"call_via": "phone", "phone_number": "+47 900 00 009"})

    assert response.status_code == 302
    assert profile_of(world.kari).phone_number == "+4790000009"
    assert agent_endpoint(world.kari) == "+4790000009"
    page = get_page(as_kari, PROFILE)
    assert "Your calls now ring on +4790000009." in page.text
    assert page.field("Phone number").get("value") == "+4790000009"
    assert page.field("My phone number").get("checked") is not None


def test_kari_chooses_the_provider_softphone_without_a_number(as_kari, world):
    response = as_kari.post(
        PROFILE, {"call_via": "client", "phone_number": ""}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    said = "Your calls now ring on the provider's softphone as client:kari."
    assert json.loads(response["HX-Trigger"]) == {"desk:announce": said}
    page = Page(response.content)
    assert said in page.text
    assert page.field("The provider's softphone").get("checked") is not None
    assert agent_endpoint(world.kari) == "client:kari"


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        (
            {"call_via": "phone", "phone_number": "90000009"},
            "Write the phone number with its country code, e.g. +4790000000.",
        ),
        ({"call_via": "phone", "phone_number": "+47123"}, "'+47123' is not a valid phone number."),
        ({"call_via": "phone", "phone_number": ""}, "Add your phone number to take calls on it."),
        (
            {"call_via": "phone", "phone_number": "+4790000009" + "0" * 60},
            "That phone number is too long.",
        ),
        (
            {"call_via": "phone", "phone_number": "+479000\x000009"},
            "The phone number contains a NUL character.",
        ),
        (
            {"call_via": "pigeon", "phone_number": "+4790000009"},
            "Ring calls on phone or client, not 'pigeon'.",
        ),
    ],
)
def test_a_number_that_cannot_be_dialled_is_refused_next_to_the_field(as_kari, world, form, reason):
    response = as_kari.post(PROFILE, form)

    assert response.status_code == 400
    page = Page(response.content)
    assert page.alerts() == [reason]
    field = page.field("Phone number")
    assert field.get("aria-invalid") == "true"
    assert "profile-error" in field.get("aria-describedby", "")
    assert profile_of(world.kari).call_endpoint == ""


def test_the_profile_page_needs_a_signed_in_agent(client):
    response = client.get(PROFILE)
    assert response.status_code == 302
    assert "/login" in response["Location"]
