"""Export and erasure on the desk (issue 11, item 7): an admin, on a customer's conversation,
finds "Export data" (the ZIP) and "Erase customer…", whose confirmation names what goes and
what stays; after confirming, the page follows the erasure queued → running → done through a
polled status partial. Agents see neither and are refused at the URLs."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from teamline.audit.models import AuditEntry
from teamline.core.testing import create_customer, create_user
from teamline.privacy.actions import do_erase_customer
from teamline.privacy.models import Erasure

from .page import Page
from .support import conversation_of, get_page

pytestmark = pytest.mark.django_db

PHONE = "+4791234567"


@pytest.fixture
def story(world):
    admin = create_user("admin", role="admin")
    astrid = create_customer(team=world.oslo, name="Astrid", identities=[("phone", PHONE, True)])
    conversation = conversation_of(astrid, "Please delete everything about me")
    client = Client()
    client.force_login(admin)
    return {"admin": admin, "astrid": astrid, "conversation": conversation, "client": client}


def test_an_admin_finds_export_and_erase_in_the_customer_panel(story):
    page = get_page(story["client"], reverse("desk:conversation", args=[story["conversation"].pk]))

    export = page.link("Export data of this customer (ZIP)")
    assert export.get("href") == reverse("desk:export_customer", args=[story["astrid"].pk])
    assert page.link("Erase customer…").get("href") == reverse(
        "desk:erase_customer", args=[story["astrid"].pk]
    )


def test_the_export_downloads_the_zip_and_is_audited(story):
    response = story["client"].get(reverse("desk:export_customer", args=[story["astrid"].pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert "manifest.json" in archive.namelist()
    assert PHONE in archive.read("identities.json").decode()
    entry = AuditEntry.objects.get(action="customer.exported")
    assert entry.actor_id == story["admin"].pk and entry.target_id == str(story["astrid"].pk)


def test_agents_see_no_privacy_actions_and_are_refused(world, story):
    kari = Client()
    kari.force_login(world.kari)
    page = get_page(kari, reverse("desk:conversation", args=[story["conversation"].pk]))
    assert not page.all("link", "Export data of this customer (ZIP)")
    assert not page.all("link", "Erase customer…")
    pk = story["astrid"].pk
    assert kari.get(reverse("desk:export_customer", args=[pk])).status_code == 403
    assert kari.get(reverse("desk:erase_customer", args=[pk])).status_code == 403
    assert (
        kari.post(reverse("desk:erase_customer", args=[pk]), {"confirm": "erase"}).status_code
        == 403
    )
    assert kari.get(reverse("desk:erasure_status", args=[pk])).status_code == 403
    assert not Erasure.objects.exists()


def test_the_confirmation_names_what_goes_and_what_stays(story):
    page = get_page(story["client"], reverse("desk:erase_customer", args=[story["astrid"].pk]))

    assert page.one("heading", "What will be deleted")
    assert page.one("heading", "What stays, anonymised")
    assert "Every identity: phone numbers, email addresses" in page.text
    assert "The fact of the erasure" in page.text
    confirm = page.field("I understand that this customer's data will be deleted for good")
    assert confirm.get("type") == "checkbox" and confirm.get("required") is not None
    assert page.form_of(confirm) is page.form_of(page.button("Erase customer"))


def test_erasing_needs_the_box_ticked(story):
    url = reverse("desk:erase_customer", args=[story["astrid"].pk])

    response = story["client"].post(url, {})

    assert response.status_code == 400
    assert "Tick the box to confirm the erasure." in Page(response.content).text
    assert not Erasure.objects.exists()


def test_the_erasure_is_followed_from_queued_to_done(story):
    client, astrid = story["client"], story["astrid"]
    url = reverse("desk:erase_customer", args=[astrid.pk])
    status_url = reverse("desk:erasure_status", args=[astrid.pk])

    response = client.post(url, {"confirm": "erase"})

    assert response.status_code == 302 and response["Location"] == url
    page = get_page(client, url)
    region = page.region("status", "Erasure progress")
    assert region.get("aria-live") == "polite"
    assert "Queued" in region.text
    poller = next(n for n in region.iter() if n.get("hx-get"))
    assert poller.get("hx-get") == f"{status_url}?seen=queued"
    assert poller.get("hx-trigger") == "every 2s"
    # Nothing changed: nothing to swap, nothing re-announced.
    assert client.get(f"{status_url}?seen=queued").status_code == 204

    Erasure.objects.filter(customer_id_copy=astrid.pk).update(attempts=1)
    running = client.get(f"{status_url}?seen=queued", headers={"HX-Request": "true"})
    assert running.status_code == 200 and "Running" in Page(running.content).text
    Erasure.objects.filter(customer_id_copy=astrid.pk).update(attempts=0)

    do_erase_customer(astrid.pk)  # the durable task

    done = client.get(f"{status_url}?seen=running", headers={"HX-Request": "true"})
    assert "Done: the customer's data is erased." in Page(done.content).text
    assert not [n for n in Page(done.content).root.iter() if n.get("hx-trigger")], "polling stops"
    # Asking again changes nothing: one erasure, audited when asked and when done.
    client.post(url, {"confirm": "erase"})
    stages = AuditEntry.objects.filter(action="customer.erased").values_list("data", flat=True)
    assert [d["stage"] for d in stages] == ["requested", "done"]


def test_only_admins_are_offered_the_privacy_scope_on_the_tokens_page(world, story):
    admin_page = get_page(story["client"], reverse("desk:tokens"))
    assert admin_page.field("Privacy requests (customer export and erasure; admins only)")

    kari = Client()
    kari.force_login(world.kari)
    page = get_page(kari, reverse("desk:tokens"))
    assert not page.all("checkbox", "Privacy requests (customer export and erasure; admins only)")
    forged = kari.post(reverse("desk:tokens"), {"name": "DPO", "scopes": ["privacy"]})
    assert forged.status_code == 403
    assert Page(forged.content).alerts() == [
        "Only admins may create a token with the privacy scope, for an admin."
    ]
    assert not world.kari.api_tokens.exists()
