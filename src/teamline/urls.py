from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from teamline.api import api
from teamline.connectors import views as connector_views
from teamline.core import availability, csp_report, public_media

# A database outage anywhere (views, middleware, the API) is a 503 with Retry-After, not a 500.
handler500 = availability.server_error

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="desk:inbox", permanent=False)),
    path("health/", availability.health, name="health"),
    # Browsers report Content-Security-Policy violations here (docs/security.md).
    path("csp-report/", csp_report.csp_report, name="csp_report"),
    path("admin/", admin.site.urls),
    # django-allauth: the second factor at sign-in, MFA and passkey management, SSO callbacks.
    # Local sign-up is closed (accounts/adapters.py); /desk/login/ is the sign-in page.
    # allauth's own sign-in URL sends to the desk's, so there is one sign-in page.
    path(
        "accounts/login/",
        RedirectView.as_view(pattern_name="desk:login", query_string=True, permanent=False),
    ),
    # Single sign-on's OIDC callback (checks the id_token's signature), before allauth's own.
    path("accounts/", include("teamline.sso.urls")),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", api.urls),
    path("desk/", include("teamline.desk.urls")),
    path("widget/", include("teamline.widget.urls")),
    path("surveys/", include("teamline.surveys.urls")),
    # The public help center (published knowledge-base articles, search).
    # The help center's community Q&A (before /help/<language>/, which would take its path).
    path("help/community/", include("teamline.community.urls")),
    path("help/", include("teamline.knowledge.urls")),
    # Provider webhooks: /webhooks/<provider>/<inbox public id>/[<suffix>] (connectors/views.py)
    path("webhooks/", include("teamline.connectors.urls")),
    # Uploaded photos (agents, teams) are public: the widget shows them to customers.
    # Attachments are not served here; they go through an access-checked view.
    re_path(r"^media/(?P<path>(agents|teams)/[^/]+)$", public_media.serve_photo),
    # Agents' attachments for the providers that fetch outbound media (WhatsApp, Telegram,
    # MMS): signed, expiring links (connectors/media.py), no session needed.
    path(
        "media/out/<int:attachment_id>/<int:expires>/<slug:signature>/<str:filename>",
        connector_views.public_media,
        name="public_media",
    ),
]
