"""An email in the desk: its subject, and its own formatting — sanitised as it is shown, with
no image loaded from anywhere — or, for a remote agent, the masked plain text."""

from __future__ import annotations

import pytest

from teamline.accounts.actions import do_set_remote_agent
from teamline.conversations.inbound import do_receive_customer_message
from teamline.conversations.models import Inbox
from teamline.core.testing import create_customer, create_user

from .support import get_page

pytestmark = pytest.mark.django_db

HTML = (
    "<p>Hei, <b>fakturaen</b> for mai er feil.</p>"
    '<img src="https://tracker.example/pixel.gif" alt="">'
    "<script>alert('x')</script>"
    '<a href="javascript:alert(1)">klikk</a> <a href="https://nordlys.example/faktura">faktura</a>'
    '<h1>Stor overskrift</h1><p style="color:red" onclick="steal()">Mvh Astrid</p>'
)


@pytest.fixture
def email(world):
    inbox = Inbox.objects.create(name="Support mail", kind="email", default_team=world.oslo)
    customer = create_customer(
        team=world.oslo, name="Astrid", identities=[("email", "astrid@example.com", False)]
    )
    message, _ = do_receive_customer_message(
        inbox=inbox,
        customer=customer,
        text="Hei, fakturaen for mai er feil. Ring meg på +47 912 34 567.",
        channel="email",
        external_id="<m1@example.com>",
        content={"email": {"subject": "Feil på faktura"}, "html": HTML},
    )
    return message.conversation


def first_message(page):
    (history,) = page.by_id("history-list").find_all("li")[:1]
    return history


def test_the_subject_and_the_sanitised_formatting_are_shown(client, world, email):
    client.force_login(world.kari)
    page = get_page(client, f"/desk/conversations/{email.pk}/")
    item = first_message(page)
    assert "Subject: Feil på faktura" in item.text
    (body,) = [n for n in item.iter() if "email-html" in (n.get("class") or "")]
    assert [b.text for b in body.find_all("b")] == ["fakturaen"]
    assert not item.find_all("img") and not item.find_all("script")
    assert "tracker.example" not in page.html
    assert [a.get("href") for a in body.find_all("a")] == [None, "https://nordlys.example/faktura"]
    assert not body.find_all("h1") and "Stor overskrift" in body.text
    assert all("onclick" not in n.attrs and "style" not in n.attrs for n in body.iter())


def test_a_remote_agent_reads_the_masked_text_instead(client, world, email):
    do_set_remote_agent(world.kari, True, actor=create_user("admin", role="admin"))
    client.force_login(world.kari)
    page = get_page(client, f"/desk/conversations/{email.pk}/")
    item = first_message(page)
    assert not [n for n in item.iter() if "email-html" in (n.get("class") or "")]
    assert "+47 912 34 567" not in item.text
    assert "fakturaen for mai er feil" in item.text
