"""Single sign-on in a real browser, against real identity providers on loopback (the local
OpenID Connect provider and SAML IdP of tests/support/, built on Authlib and pysaml2).

Sam is in the directory group `supervisors-north`, which Teamline maps to supervisor of the Oslo
team. Sam has never had a Teamline account: signing in with Keycloak (OIDC) or with Acme (SAML)
makes one, a supervisor in Oslo, and opens the desk. Mia is only in `marketing`, which gives no
access: she is told so and no account is made. No accessibility or CSP violations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.oidc_provider import OIDCProvider, running_oidc_provider
from tests.support.saml_idp import SAMLIdP, running_saml_idp

from .conftest import run_in_server, teamline_server
from .test_story_video_call import violations
from .test_story_webchat_to_desk import TIMEOUT

pytestmark = pytest.mark.e2e

MAPPING = """
from teamline.sso.models import GroupMapping
from teamline.teams.models import Team
oslo = Team.objects.get(slug="oslo")
mapping = GroupMapping.objects.create(group="supervisors-north", role="supervisor")
mapping.member_of.add(oslo)
mapping.supervisor_of.add(oslo)
"""

WHO = """
from teamline.accounts.models import User
from teamline.teams.models import Team
user = User.objects.filter(email="{email}").first()
oslo = Team.objects.get(slug="oslo")
supervises = user is not None and oslo.supervisors.filter(pk=user.pk).exists()
print(user.role if user else "none", supervises)
"""


class SSOServer:
    def __init__(self, url: str, env: dict[str, str], op: OIDCProvider, idp: SAMLIdP) -> None:
        self.url, self.env, self.op, self.idp = url, env, op, idp

    def who(self, email: str) -> str:
        return run_in_server(self.env, WHO.format(email=email)).splitlines()[-1]


@pytest.fixture(scope="module")
def sso_server() -> Iterator[SSOServer]:
    with running_oidc_provider() as op, running_saml_idp() as idp:
        env = {
            "TEAMLINE_OIDC_ISSUER": op.issuer,
            "TEAMLINE_OIDC_ID": "keycloak",
            "TEAMLINE_OIDC_NAME": "Keycloak",
            "TEAMLINE_OIDC_CLIENT_ID": "teamline-desk",
            "TEAMLINE_OIDC_CLIENT_SECRET": "desk-secret",
            "TEAMLINE_SAML_METADATA_URL": idp.metadata_url,
            "TEAMLINE_SAML_IDP_ENTITY_ID": idp.entity_id,
            "TEAMLINE_SAML_ID": "acme",
            "TEAMLINE_SAML_NAME": "Acme",
            # Acme requires a second factor itself, so supervisors need none in Teamline.
            "TEAMLINE_SAML_IDP_ENFORCES_MFA": "1",
        }
        with teamline_server(env) as (url, server_env):
            op.add_client(
                "teamline-desk", "desk-secret", [f"{url}/accounts/oidc/keycloak/login/callback/"]
            )
            # Keycloak checked Sam's one-time code: his supervisor role needs no second factor
            # in Teamline too (docs/security.md, "Single sign-on").
            op.add_user(
                "sam",
                password="sam-at-keycloak",
                groups=["supervisors-north"],
                amr=["pwd", "otp"],
            )
            op.add_user("mia", password="mia-at-keycloak", groups=["marketing"])
            idp.add_sp(f"{url}/accounts/saml/acme/metadata/", f"{url}/accounts/saml/acme/acs/")
            idp.add_user(
                "sam",
                password="sam-at-acme",
                email="sam@acme.example",
                groups=["supervisors-north"],
            )
            run_in_server(server_env, MAPPING)
            yield SSOServer(url, server_env, op, idp)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    yield page
    context.close()


def sign_in_at_provider(page, username: str, password: str) -> None:
    page.get_by_role("heading", name="Sign in to the test").or_(
        page.get_by_role("heading", name="Test identity provider: sign in")
    ).wait_for()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def test_sam_signs_in_with_keycloak_and_becomes_oslos_supervisor(page, sso_server):
    page.goto(f"{sso_server.url}/desk/login/")
    button = page.get_by_role("button", name="Sign in with Keycloak")
    button.wait_for()
    assert violations(page, "body") == []

    button.focus()
    page.keyboard.press("Enter")
    sign_in_at_provider(page, "sam", "sam-at-keycloak")
    page.get_by_role("navigation", name="Inbox views").wait_for()
    assert sso_server.who("sam@idp.example") == "supervisor True"


def test_mia_without_a_mapped_group_is_told_and_gets_no_account(page, sso_server):
    page.goto(f"{sso_server.url}/desk/login/")
    page.get_by_role("button", name="Sign in with Keycloak").click()
    sign_in_at_provider(page, "mia", "mia-at-keycloak")
    page.get_by_role("heading", name="No access to Teamline").wait_for()
    assert "none of your groups there gives access" in page.get_by_role("alert").inner_text()
    assert violations(page, "body") == []
    assert sso_server.who("mia@idp.example").startswith("none")


def test_sam_signs_in_with_saml(page, sso_server):
    page.goto(f"{sso_server.url}/desk/login/")
    page.get_by_role("button", name="Sign in with Acme").click()
    sign_in_at_provider(page, "sam", "sam-at-acme")
    page.get_by_role("heading", name="Test identity provider: continue").wait_for()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("navigation", name="Inbox views").wait_for()
    assert sso_server.who("sam@acme.example") == "supervisor True"


def test_a_forged_answer_from_the_provider_signs_nobody_in(page, sso_server):
    sso_server.op.sign_with_foreign_key = True  # someone else's key signs the id_token
    try:
        page.goto(f"{sso_server.url}/desk/login/")
        page.get_by_role("button", name="Sign in with Keycloak").click()
        sign_in_at_provider(page, "sam", "sam-at-keycloak")
        page.get_by_role("heading", name="Single sign-on failed").wait_for()
        assert violations(page, "body") == []
        page.goto(f"{sso_server.url}/desk/")
        page.get_by_role("button", name="Sign in", exact=True).wait_for()
    finally:
        sso_server.op.sign_with_foreign_key = False
