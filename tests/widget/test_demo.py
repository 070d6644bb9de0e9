"""The demo brand page: a fictional operator's site with the widget embedded in one tag."""

import re

import pytest

from teamline.connectors import webchat
from teamline.core.testing import create_user

pytestmark = pytest.mark.django_db


def script_tags(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*>", page)


def test_the_demo_page_embeds_the_widget_with_one_script_tag(client, inbox):
    page = client.get("/widget/demo/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Nordlys Mobile" in html
    assert script_tags(html) == [
        f'<script src="/static/widget/teamline.js" data-inbox="{inbox.public_id}" async>'
    ]
    assert (
        f'<script src="/static/widget/teamline.js" data-inbox="{inbox.public_id}" async></script>'
        in html
    )


def test_the_demo_page_uses_the_first_active_inbox(client, oslo, inbox):
    from teamline.core.testing import create_inbox

    inbox.is_active = False
    inbox.save(update_fields=["is_active"])
    second = create_inbox(oslo, name="Second")
    create_inbox(oslo, name="Third")

    html = client.get("/widget/demo/").content.decode()

    assert f'data-inbox="{second.public_id}"' in html


def test_without_an_inbox_the_demo_page_explains_what_to_do(client, db):
    page = client.get("/widget/demo/")

    assert page.status_code == 404
    assert "No web chat inbox yet" in page.content.decode()
    assert script_tags(page.content.decode()) == []


def test_an_admin_can_try_a_verified_identity(client, inbox):
    client.force_login(create_user("admin", role="admin"))

    html = client.get("/widget/demo/?user=demo-customer-1").content.decode()

    expected = webchat.identity_hash(inbox.secret, "demo-customer-1")
    (tag,) = script_tags(html)
    assert 'data-user-id="demo-customer-1"' in tag
    assert f'data-user-hash="{expected}"' in tag


def test_an_anonymous_visitor_cannot_get_a_signature_for_any_user(client, inbox):
    html = client.get("/widget/demo/?user=somebody-else").content.decode()

    (tag,) = script_tags(html)
    assert "data-user-hash" not in tag
    assert "You are chatting as an anonymous visitor" in html


def test_in_debug_mode_the_demo_page_signs_the_identity(client, inbox, settings):
    settings.DEBUG = True

    html = client.get("/widget/demo/?user=demo-customer-2").content.decode()

    (tag,) = script_tags(html)
    assert f'data-user-hash="{webchat.identity_hash(inbox.secret, "demo-customer-2")}"' in tag
