"""Single sign-on through the real entry points: the desk's sign-in starts allauth's
OpenID Connect or SAML flow, the local provider (tests/support/) answers, the callback signs the
user in — made just in time with the role and team their groups map to — or refuses them. Forged
answers (a foreign signature, another audience, an expired token or assertion) sign nobody in.

The North team's supervisors are the provider group `supervisors-north`."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from html import unescape
from urllib.parse import urlsplit

import httpx
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from teamline.accounts.actions import do_set_mfa_requirement
from teamline.accounts.models import Role, User
from teamline.accounts.sessions import IDP_MFA_KEY
from teamline.audit.models import AuditAction, AuditEntry
from teamline.core.testing import create_team, create_user
from teamline.sso.adapter import SocialAccountAdapter
from teamline.sso.config import providers_from_env
from teamline.sso.models import GroupMapping

pytestmark = pytest.mark.django_db

CALLBACK = "http://testserver/accounts/oidc/keycloak/login/callback/"
SAML_ENTITY = "http://testserver/accounts/saml/acme/metadata/"
SAML_ACS = "http://testserver/accounts/saml/acme/acs/"


@pytest.fixture
def north():
    team = create_team("North")
    mapping = GroupMapping.objects.create(group="supervisors-north", role=Role.SUPERVISOR)
    mapping.member_of.add(team)
    mapping.supervisor_of.add(team)
    return team


@pytest.fixture
def oidc(oidc_provider, settings):
    oidc_provider.add_client("teamline-desk", "desk-secret", [CALLBACK])
    oidc_provider.add_user("sam", groups=["supervisors-north"], name="Sam Berg", amr=["pwd"])
    oidc_provider.add_user("mia", groups=["marketing"])
    settings.SOCIALACCOUNT_PROVIDERS = providers_from_env(
        {
            "TEAMLINE_OIDC_ISSUER": oidc_provider.issuer,
            "TEAMLINE_OIDC_ID": "keycloak",
            "TEAMLINE_OIDC_NAME": "Keycloak",
            "TEAMLINE_OIDC_CLIENT_ID": "teamline-desk",
            "TEAMLINE_OIDC_CLIENT_SECRET": "desk-secret",
        }
    )
    return oidc_provider


@pytest.fixture
def saml(saml_idp, settings):
    saml_idp.add_sp(SAML_ENTITY, SAML_ACS)
    saml_idp.add_user("sam", groups=["supervisors-north"], email="sam@acme.example")
    saml_idp.add_user("mia", groups=["marketing"])
    settings.SOCIALACCOUNT_PROVIDERS = providers_from_env(
        {
            "TEAMLINE_SAML_METADATA_URL": saml_idp.metadata_url,
            "TEAMLINE_SAML_IDP_ENTITY_ID": saml_idp.entity_id,
            "TEAMLINE_SAML_ID": "acme",
            "TEAMLINE_SAML_NAME": "Acme",
        }
    )
    return saml_idp


def oidc_sign_in(client: Client, provider, username: str):
    """Start at Teamline, approve at the provider as `username`, come back to the callback."""
    provider.auto_login = username
    start = client.post("/accounts/oidc/keycloak/login/")
    assert start.status_code == 302, start.content
    at_provider = httpx.get(start["Location"])
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    return client.get(f"{back.path}?{back.query}")


def saml_sign_in(client: Client, idp, username: str):
    idp.auto_login = username
    start = client.post("/accounts/saml/acme/login/")
    assert start.status_code == 302, start.content
    at_idp = httpx.get(start["Location"])
    assert at_idp.status_code == 200, at_idp.text
    fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', at_idp.text))
    posted = client.post(urlsplit(SAML_ACS).path, {k: unescape(v) for k, v in fields.items()})
    assert posted.status_code == 302, posted.content
    return client.get(posted["Location"])


def signed_in(client: Client) -> User | None:
    response = client.get("/desk/")
    if response.status_code != 200:
        return None
    return response.wsgi_request.user  # type: ignore[return-value]


@pytest.mark.integration
def test_a_supervisor_is_made_on_first_oidc_sign_in_in_the_mapped_team(oidc, north):
    client = Client()
    response = oidc_sign_in(client, oidc, "sam")
    assert response.status_code == 302 and response["Location"].startswith("/desk")
    user = signed_in(client)
    assert user is not None and user.email == "sam@idp.example"
    assert user.role == Role.SUPERVISOR and not user.has_usable_password()
    assert set(north.supervisors.all()) == {user} and set(north.members.all()) == {user}
    actions = list(AuditEntry.objects.filter(actor_id=user.pk).values_list("action", flat=True))
    assert AuditAction.USER_PROVISIONED in actions
    login = AuditEntry.objects.get(action=AuditAction.LOGIN, actor_id=user.pk)
    assert login.data["method"] == "sso"
    assert login.data["provider"] == "keycloak"

    # Signing in again finds the same user; nothing new is made.
    client.logout()
    oidc_sign_in(client, oidc, "sam")
    assert signed_in(client) == user
    assert User.objects.filter(email="sam@idp.example").count() == 1


def test_the_providers_second_factor_is_remembered_for_the_session(oidc, north):
    client = Client()
    oidc_sign_in(client, oidc, "sam")  # a password alone at the provider (amr ["pwd"])
    assert client.session[IDP_MFA_KEY] is False
    client.logout()
    oidc.users["sam"].amr = ["pwd", "otp"]
    oidc_sign_in(client, oidc, "sam")
    assert client.session[IDP_MFA_KEY] is True


def test_a_user_without_a_mapped_group_is_refused_and_not_made(oidc, north):
    client = Client()
    response = oidc_sign_in(client, oidc, "mia")
    assert response.status_code == 403
    assert "none of your groups there gives access to Teamline" in response.content.decode()
    assert signed_in(client) is None
    assert not User.objects.filter(email="mia@idp.example").exists()
    refused = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).latest("seq")
    assert refused.data == {
        "method": "sso",
        "provider": "keycloak",
        "reason": "no_mapped_group",
    }


def test_groups_removed_in_the_directory_end_the_role_on_next_sign_in(oidc, north):
    client = Client()
    oidc_sign_in(client, oidc, "sam")
    client.logout()
    oidc.users["sam"].groups = ["marketing"]
    assert oidc_sign_in(client, oidc, "sam").status_code == 403
    oidc.users["sam"].groups = ["supervisors-north"]
    GroupMapping.objects.filter(group="supervisors-north").update(role=Role.AGENT)
    oidc_sign_in(client, oidc, "sam")
    user = User.objects.get(email="sam@idp.example")
    assert user.role == Role.AGENT
    assert AuditEntry.objects.filter(
        action=AuditAction.ROLE_CHANGED, target_id=str(user.pk)
    ).exists()


def test_an_existing_local_account_is_not_taken_over_by_email(oidc, north):
    local = create_user("sam-local")
    User.objects.filter(pk=local.pk).update(email="sam@idp.example")
    client = Client()
    response = oidc_sign_in(client, oidc, "sam")
    assert response.status_code == 403
    assert "already exists" in response.content.decode()
    assert signed_in(client) is None


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"sign_with_foreign_key": True}, id="wrong-signature"),
        pytest.param({"id_token_claims": {"aud": "someone-else"}}, id="wrong-audience"),
        pytest.param({"id_token_claims": {"exp": int(time.time()) - 60}}, id="expired"),
        pytest.param({"id_token_claims": {"iss": "https://evil.example"}}, id="wrong-issuer"),
    ],
)
def test_a_forged_id_token_signs_nobody_in(oidc, north, forgery):
    for knob, value in forgery.items():
        if isinstance(value, dict):
            getattr(oidc, knob).update(value)
        else:
            setattr(oidc, knob, value)
    client = Client()
    response = oidc_sign_in(client, oidc, "sam")
    assert response.status_code == 401
    assert "Single sign-on failed" in response.content.decode()
    assert signed_in(client) is None
    assert not User.objects.filter(email="sam@idp.example").exists()
    refused = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).latest("seq")
    assert refused.data["method"] == "sso" and refused.data["provider"] == "keycloak"
    assert refused.data["reason"].startswith("OAuth2Error")


@pytest.mark.integration
def test_a_supervisor_is_made_on_first_saml_sign_in(saml, north):
    client = Client(HTTP_HOST="testserver")
    response = saml_sign_in(client, saml, "sam")
    assert response.status_code == 302, response.content
    user = signed_in(client)
    assert user is not None and user.email == "sam@acme.example"
    assert user.role == Role.SUPERVISOR
    assert set(north.supervisors.all()) == {user}
    login = AuditEntry.objects.get(action=AuditAction.LOGIN, actor_id=user.pk)
    assert login.data["method"] == "sso" and login.data["provider"] == "acme"


def test_saml_without_a_mapped_group_is_refused(saml, north):
    client = Client(HTTP_HOST="testserver")
    response = saml_sign_in(client, saml, "mia")
    assert response.status_code == 403
    assert signed_in(client) is None


@pytest.mark.parametrize(
    ("knob", "value", "why"),
    [
        pytest.param("sign_with_foreign_key", True, "Signature validation failed", id="signature"),
        pytest.param("audience", "https://someone-else.example/", "audience", id="audience"),
        pytest.param("expired", True, "expired", id="expired"),
    ],
)
def test_a_forged_saml_assertion_signs_nobody_in(saml, north, knob, value, why):
    setattr(saml, knob, value)
    client = Client(HTTP_HOST="testserver")
    response = saml_sign_in(client, saml, "sam")
    assert response.status_code == 401
    assert signed_in(client) is None
    assert not User.objects.filter(email="sam@acme.example").exists()
    refused = AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).latest("seq")
    assert refused.data["provider"] == "acme"
    assert why in refused.data["reason"]


def test_local_sign_up_stays_closed_with_sso_on(oidc):
    response = Client().post(
        "/accounts/signup/",
        {
            "username": "eve",
            "password1": "a-long-pass-phrase-1",
            "password2": "a-long-pass-phrase-1",
        },
    )
    assert not User.objects.filter(username="eve").exists()
    assert response.status_code in (200, 403)


def test_a_signed_in_user_cannot_link_a_provider_account_themselves(oidc, north):
    kari = create_user("kari")
    client = Client()
    client.force_login(kari)
    oidc.auto_login = "sam"
    start = client.post("/accounts/oidc/keycloak/login/", {"process": "connect"})
    assert start.status_code == 302, start.content
    back = urlsplit(httpx.get(start["Location"]).headers["location"])
    response = client.get(f"{back.path}?{back.query}")
    assert response.status_code == 403
    assert "cannot be linked" in response.content.decode()
    assert not kari.socialaccount_set.exists()


def test_the_service_provider_metadata_names_the_assertion_consumer_service(saml):
    response = Client(HTTP_HOST="testserver").get("/accounts/saml/acme/metadata/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f'entityID="{SAML_ENTITY}"' in body and f'Location="{SAML_ACS}"' in body


def test_a_password_sign_in_is_audited_with_its_method_too():
    kari = create_user("kari")
    client = Client()
    response = client.post("/desk/login/", {"login": "kari", "password": "password-123"})
    assert response.status_code == 302
    login = AuditEntry.objects.get(action=AuditAction.LOGIN, actor_id=kari.pk)
    assert login.data == {"method": "password"}


def test_supervisors_need_no_teamline_factor_when_the_provider_checked_one(oidc, north):
    """Supervisors must have a second factor here. Sam signs in with a password alone at the
    provider: he is sent to set one up. When the provider checked his one-time code (`amr`
    has "otp"), that is his second factor and the desk opens."""
    root = create_user("root", role=Role.ADMIN)
    do_set_mfa_requirement(Role.SUPERVISOR, required=True, actor=root)
    client = Client()
    oidc_sign_in(client, oidc, "sam")  # amr ["pwd"]
    page = client.get("/desk/")
    assert page.status_code == 302 and page["Location"] == reverse("mfa_index")

    client.logout()
    oidc.users["sam"].amr = ["pwd", "otp"]
    oidc_sign_in(client, oidc, "sam")
    assert client.get("/desk/").status_code == 200


def approved_callback(client: Client, provider, username: str) -> str:
    """Start at Teamline and approve at the provider; the callback URL, not yet followed."""
    provider.auto_login = username
    start = client.post("/accounts/oidc/keycloak/login/")
    assert start.status_code == 302, start.content
    back = urlsplit(httpx.get(start["Location"]).headers["location"])
    return f"{back.path}?{back.query}"


def callbacks_at_once(pairs, monkeypatch) -> list:
    """Follow each (client, callback) in its own thread, all let through the adapter's
    `pre_social_login` together: every request has looked its user up and found nothing
    before any of them makes one (the race of two tabs signing in for the first time)."""
    barrier = threading.Barrier(len(pairs))
    original = SocialAccountAdapter.pre_social_login

    def together(self, request, sociallogin):
        barrier.wait(timeout=30)
        return original(self, request, sociallogin)

    monkeypatch.setattr(SocialAccountAdapter, "pre_social_login", together)
    answers: list = [None] * len(pairs)
    errors: list[BaseException] = []

    def follow(index: int, client: Client, url: str) -> None:
        try:
            answers[index] = client.get(url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=follow, args=(index, client, url))
        for index, (client, url) in enumerate(pairs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return answers


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_first_sign_ins_at_once_make_one_user_and_sign_both_in(oidc, north, monkeypatch):
    """Sam opens Teamline in two tabs and signs in on both before either has finished: both
    tabs land on the desk as the one Sam made just in time, provisioned (and audited) once."""
    tabs = [Client(), Client()]
    pairs = [(tab, approved_callback(tab, oidc, "sam")) for tab in tabs]

    answers = callbacks_at_once(pairs, monkeypatch)

    assert [a.status_code for a in answers] == [302, 302], [a.content[:300] for a in answers]
    assert all(a["Location"].startswith("/desk") for a in answers)
    [sam] = User.objects.filter(email="sam@idp.example")
    assert [signed_in(tab) for tab in tabs] == [sam, sam]
    assert sam.socialaccount_set.count() == 1
    assert sam.role == Role.SUPERVISOR and set(north.supervisors.all()) == {sam}
    provisioned = AuditEntry.objects.filter(action=AuditAction.USER_PROVISIONED)
    assert list(provisioned.values_list("target_id", flat=True)) == [str(sam.pk)]
    assert AuditEntry.objects.filter(action=AuditAction.LOGIN, actor_id=sam.pk).count() == 2
    assert not AuditEntry.objects.filter(action=AuditAction.LOGIN_FAILED).exists()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_new_people_with_one_name_sign_in_at_once_as_two_users(oidc, north, monkeypatch):
    """Two Sam Bergs at the provider, both new and both "sam" there: each gets a user of their
    own, whichever request takes the username first."""
    oidc.users["other-sam"] = dataclasses.replace(
        oidc.users["sam"], sub="sub-other-sam", email="sam.berg@idp.example"
    )
    first, second = Client(), Client()
    pairs = [
        (first, approved_callback(first, oidc, "sam")),
        (second, approved_callback(second, oidc, "other-sam")),
    ]

    answers = callbacks_at_once(pairs, monkeypatch)

    assert [a.status_code for a in answers] == [302, 302], [a.content[:300] for a in answers]
    users = {signed_in(client) for client, _ in pairs}
    assert len(users) == 2 and None not in users
    assert len({user.username for user in users}) == 2
    assert AuditEntry.objects.filter(action=AuditAction.USER_PROVISIONED).count() == 2
