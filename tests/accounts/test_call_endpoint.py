"""Where an agent's phone calls ring: their own number (E.164, checked) or the provider's
softphone; set by the agent or an admin, shown in the admin's agent profile."""

import pytest
from django.core.exceptions import ValidationError

from teamline.accounts.actions import do_set_call_endpoint
from teamline.accounts.models import AgentProfile, CallVia, Role
from teamline.core.errors import InvalidInput, NotFound
from teamline.core.testing import create_agent, create_user

pytestmark = pytest.mark.django_db


def test_an_agent_sets_their_number_and_it_is_kept_in_e164():
    kari = create_agent("kari")

    profile = do_set_call_endpoint(
        kari, phone_number=" +47 900 00 009 ", call_via="phone", actor=kari
    )

    assert profile.phone_number == "+4790000009"
    assert profile.call_endpoint == "+4790000009"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("90000009", "with its country code"),
        ("+47 12", "not a valid phone number"),
        ("+47abc", "not a phone number"),
        ("+4" + "9" * 60, "too long"),
    ],
)
def test_a_number_that_cannot_be_dialled_is_refused(number, message):
    kari = create_agent("kari")

    with pytest.raises(InvalidInput, match=message):
        do_set_call_endpoint(kari, phone_number=number, call_via="phone", actor=kari)

    assert AgentProfile.objects.get(user=kari).phone_number == ""


def test_the_softphone_rings_the_agents_client_identity_and_needs_no_number():
    kari = create_agent("kari")

    profile = do_set_call_endpoint(kari, phone_number="", call_via=CallVia.CLIENT, actor=kari)

    assert profile.call_endpoint == "client:kari"
    with pytest.raises(InvalidInput, match="Add your phone number"):
        do_set_call_endpoint(kari, phone_number="", call_via="phone", actor=kari)
    with pytest.raises(InvalidInput, match="Ring calls on phone or client"):
        do_set_call_endpoint(kari, phone_number="", call_via="pager", actor=kari)


def test_only_the_agent_or_an_admin_sets_it():
    kari = create_agent("kari")
    ola = create_agent("ola")
    admin = create_user("boss", role=Role.ADMIN)

    with pytest.raises(NotFound):
        do_set_call_endpoint(kari, phone_number="+4790000009", call_via="phone", actor=ola)
    do_set_call_endpoint(kari, phone_number="+4790000009", call_via="phone", actor=admin)

    assert AgentProfile.objects.get(user=kari).phone_number == "+4790000009"


def test_the_admin_form_checks_the_number_too():
    profile = AgentProfile.objects.get(user=create_agent("kari"))
    profile.phone_number = "0047 900"

    with pytest.raises(ValidationError) as error:
        profile.full_clean()

    assert "phone_number" in error.value.message_dict
