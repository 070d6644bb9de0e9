"""Every page Teamline serves carries a strict Content-Security-Policy with a fresh nonce and
the other browser-hardening headers; violations reported by browsers are logged, bounded."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from django.test import override_settings

from teamline.core import csp_report
from teamline.core.testing import create_inbox, create_team, create_user

pytestmark = pytest.mark.django_db

SRC = Path(__file__).resolve().parents[2] / "src" / "teamline"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def page(client, kind: str):
    """One page of each kind, as the person who sees it."""
    if kind == "desk":
        client.force_login(create_user("kari"))
        return client.get("/desk/")
    if kind == "desk sign-in":
        return client.get("/desk/login/")
    if kind == "admin":
        client.force_login(create_user("root", role="admin"))
        return client.get("/admin/")
    if kind == "help center":
        return client.get("/help/en/")
    if kind == "widget demo":
        create_inbox(create_team("Oslo"))
        return client.get("/widget/demo/")
    if kind == "API docs":
        client.force_login(create_user("root", role="admin"))
        return client.get("/api/v1/docs")
    raise AssertionError(kind)


PAGES = ["desk", "desk sign-in", "admin", "help center", "widget demo", "API docs"]


@pytest.mark.parametrize("kind", PAGES)
def test_every_page_runs_only_teamlines_own_scripts_and_styles(client, settings, kind):
    response = page(client, kind)
    assert response.status_code == 200
    csp = policy(response)
    assert csp["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert "'self'" in csp[directive]
        assert "'unsafe-inline'" not in csp[directive]
        assert "'unsafe-eval'" not in csp[directive]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    websocket = settings.PUBLIC_URL.replace("http", "ws", 1)  # ws:// or wss://, same host
    assert csp["connect-src"] == ["'self'", websocket]
    assert csp["report-uri"] == ["/csp-report/"]
    assert csp["report-to"] == ["csp"]
    assert response["Reporting-Endpoints"] == 'csp="/csp-report/"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_the_desks_scripts_carry_a_nonce_that_changes_on_every_request(client):
    """(The widget's demo page shows the exact tag a brand pastes: no nonce there.)"""
    first = page(client, "desk")
    second = client.get(first.wsgi_request.path)
    nonces = []
    for response in (first, second):
        (nonce,) = [v for v in policy(response)["script-src"] if v.startswith("'nonce-")]
        nonce = nonce.removeprefix("'nonce-").removesuffix("'")
        assert f'nonce="{nonce}"' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


@pytest.mark.parametrize(
    ("kind", "camera"),
    [
        ("desk", "camera=(self)"),
        ("widget demo", "camera=(self)"),
        ("admin", "camera=()"),
        ("help center", "camera=()"),
        ("API docs", "camera=()"),
    ],
)
def test_only_the_pages_that_hold_calls_may_use_the_camera_and_microphone(client, kind, camera):
    permissions = page(client, kind)["Permissions-Policy"]
    assert camera in permissions
    assert camera.replace("camera", "microphone") in permissions
    assert camera.replace("camera", "display-capture") in permissions
    assert "geolocation=()" in permissions
    assert "payment=()" in permissions


@override_settings(FRAME_ANCESTORS=["https://www.nordlys.example"])
def test_a_brand_site_may_frame_the_help_center_but_never_the_desk_or_admin(client):
    help_center = page(client, "help center")
    assert policy(help_center)["frame-ancestors"] == ["https://www.nordlys.example"]
    assert "X-Frame-Options" not in help_center
    for kind in ("desk", "admin"):
        response = page(client, kind)
        assert policy(response)["frame-ancestors"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY"


def test_no_template_has_an_inline_script_style_attribute_or_event_handler():
    """Inline code runs only with a nonce: a template adding `<script>…</script>`, `style="…"`
    or `onclick="…"` breaks under the policy (the browser tests would see the violation)."""
    problems = []
    for template in SRC.rglob("templates/**/*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in match.group(0) and 'type="application/json"' not in match.group(0):
                problems.append(f"{template}: inline {match.group(0)}")
        if re.search(r"\sstyle\s*=", text):
            problems.append(f"{template}: style attribute")
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text):
            problems.append(f"{template}: on* handler")
        for match in re.finditer(r"<style\b[^>]*>", text):
            if "nonce=" not in match.group(0):
                problems.append(f"{template}: <style> without a nonce")
    assert problems == []


# --- Violation reports ----------------------------------------------------------------------

OLD_SHAPE = {
    "csp-report": {
        "document-uri": "http://127.0.0.1:8000/desk/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "inline",
        "line-number": 12,
        "script-sample": "alert(1)",
        "original-policy": "x" * 2000,
    }
}
REPORTING_API_SHAPE = [
    {
        "type": "csp-violation",
        "age": 10,
        "url": "http://127.0.0.1:8000/help/",
        "body": {
            "documentURL": "http://127.0.0.1:8000/help/",
            "effectiveDirective": "style-src-attr",
            "blockedURL": "inline",
            "sample": "color: red",
            "disposition": "enforce",
        },
    },
    {"type": "deprecation", "body": {"id": "x"}},
]


def test_a_browser_reporting_a_violation_gets_it_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="teamline.csp"):
        response = client.post(
            "/csp-report/", json.dumps(OLD_SHAPE), content_type="application/csp-report"
        )
    assert response.status_code == 204
    (record,) = caplog.records
    assert record.csp_violation == {
        "documentURL": "http://127.0.0.1:8000/desk/",
        "effectiveDirective": "script-src-elem",
        "blockedURL": "inline",
        "lineNumber": "12",
        "sample": "alert(1)",
    }
    assert "script-src-elem" in record.getMessage()


def test_reports_in_the_reporting_api_shape_are_logged_one_line_per_violation(client, caplog):
    with caplog.at_level(logging.WARNING, logger="teamline.csp"):
        response = client.post(
            "/csp-report/",
            json.dumps(REPORTING_API_SHAPE),
            content_type="application/reports+json",
        )
    assert response.status_code == 204
    assert [r.csp_violation["effectiveDirective"] for r in caplog.records] == ["style-src-attr"]


def test_a_long_field_is_cut_and_a_large_body_refused(client, caplog):
    report = {"csp-report": {**OLD_SHAPE["csp-report"], "blocked-uri": "https://x/" + "a" * 900}}
    with caplog.at_level(logging.WARNING, logger="teamline.csp"):
        client.post("/csp-report/", json.dumps(report), content_type="application/csp-report")
    assert len(caplog.records[0].csp_violation["blockedURL"]) == csp_report.MAX_FIELD_CHARS
    huge = {"csp-report": {"sample": "a" * (csp_report.MAX_BODY_BYTES + 1)}}
    response = client.post("/csp-report/", json.dumps(huge), content_type="application/csp-report")
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", "application/csp-report", 400),
        ('{"csp-report": "x"}', "application/csp-report", 400),
        ('{"csp-report": {"sample": "a\\u0000b"}}', "text/plain", 415),
        ('"just a string"', "application/reports+json", 400),
    ],
)
def test_a_report_that_is_not_one_gets_a_clear_error(client, body, content_type, status):
    response = client.post("/csp-report/", body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["code"]


def test_a_flood_of_reports_from_one_address_is_refused_not_logged(client, caplog):
    body = json.dumps(OLD_SHAPE)
    with caplog.at_level(logging.WARNING, logger="teamline.csp"):
        statuses = [
            client.post("/csp-report/", body, content_type="application/csp-report").status_code
            for _ in range(csp_report.PER_ADDRESS_PER_MINUTE + 5)
        ]
    assert statuses.count(204) == csp_report.PER_ADDRESS_PER_MINUTE
    assert statuses[-1] == 429
    logged = [record for record in caplog.records if record.name == "teamline.csp"]
    assert len(logged) == csp_report.PER_ADDRESS_PER_MINUTE


def test_the_report_endpoint_only_accepts_posts(client):
    assert client.get("/csp-report/").status_code == 405


# --- Uploaded photos --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("agents/kari.png", "image/png", "inline"),
        ("teams/oslo.webp", "image/webp", "inline"),
        ("agents/evil.svg", "application/octet-stream", "attachment"),
        ("agents/evil.html", "application/octet-stream", "attachment"),
    ],
)
def test_an_uploaded_photo_is_shown_only_when_it_is_a_safe_image(
    client, settings, tmp_path, name, content_type, disposition
):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>")
    response = client.get(f"/media/{name}")
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"].split(";")[0] == disposition
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
