"""The Django admin is for admins only; inbox secrets never show in its lists."""

import re

import pytest

from teamline.conversations.models import Inbox
from teamline.core.testing import create_inbox, create_team, create_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_cannot_open_the_admin(client, role):
    user = create_user(role=role)
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_an_admin_configures_teams_agents_and_inboxes(client):
    admin = create_user("root", role="admin")
    client.force_login(admin)
    pages = [
        "/admin/",
        "/admin/teams/team/",
        "/admin/accounts/user/",
        "/admin/conversations/inbox/",
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url


def test_inbox_secret_is_not_in_the_admin_list(client):
    inbox = create_inbox(create_team("Oslo"))
    client.force_login(create_user("root", role="admin"))
    page = client.get("/admin/conversations/inbox/").content.decode()
    assert inbox.name in page
    assert inbox.secret not in page


def test_provider_credentials_are_write_only_in_the_admin(client):
    team = create_team("Oslo")
    client.force_login(create_user("root", role="admin"))
    response = client.post(
        "/admin/conversations/inbox/add/",
        {
            "name": "Oslo SMS",
            "kind": "sms",
            "default_team": team.pk,
            "greeting": "",
            "allowed_origins": "[]",
            "is_active": "on",
            "config": '{"from_number": "+4791000000"}',
            "new_credentials": '{"account_sid": "AC123", "auth_token": "tw-secret-token"}',
            "secret": "inbox-secret",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    inbox = Inbox.objects.get(name="Oslo SMS")
    assert inbox.credentials == {"account_sid": "AC123", "auth_token": "tw-secret-token"}
    assert "tw-secret-token" not in inbox.credentials_encrypted  # encrypted at rest
    page = client.get(f"/admin/conversations/inbox/{inbox.pk}/change/").content.decode()
    assert "tw-secret-token" not in page
    assert "account_sid, auth_token (values hidden)" in page
    assert f"/webhooks/twilio/{inbox.public_id}/" in page


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_inboxes_are_where_the_demo_page_sends_a_new_admin(client, db):
    # Inbox lives in the conversations app, so the admin lists it under "Conversations"; the
    # demo page without an inbox tells the admin where to add one, and must name that place.
    help_text = _text(client.get("/widget/demo/").content.decode())
    assert "add an inbox (Conversations → Inboxes)" in help_text

    client.force_login(create_user("root", role="admin"))
    index = client.get("/admin/").content.decode()
    section = re.search(r"<caption>.*?Conversations.*?</caption>(.*?)</table>", index, re.S)
    assert section is not None
    assert _text(section.group(1)).split().count("Inboxes") == 1
    assert 'href="/admin/conversations/inbox/"' in section.group(1)
