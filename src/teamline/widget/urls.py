from django.urls import path

from . import catalog, oidc_views, passkey_views, suggestions, survey_views, views

app_name = "widget"
urlpatterns = [
    path("api/<uuid:inbox_public_id>/session", views.session, name="session"),
    path("api/<uuid:inbox_public_id>/queue", views.queue, name="queue"),
    path("api/<uuid:inbox_public_id>/callback", views.callback, name="callback"),
    path("api/<uuid:inbox_public_id>/slots", views.slots, name="slots"),
    path("api/<uuid:inbox_public_id>/appointments", views.appointments, name="appointments"),
    path(
        "api/<uuid:inbox_public_id>/appointments/<int:appointment_id>",
        views.appointment,
        name="appointment",
    ),
    # The widget's words in the visitor's language (widget/catalog.py).
    path("api/<uuid:inbox_public_id>/catalog", catalog.catalog, name="catalog"),
    # Suggestions while the visitor types (widget/suggestions.py).
    path("api/<uuid:inbox_public_id>/suggestions", suggestions.suggestions, name="suggestions"),
    path(
        "api/<uuid:inbox_public_id>/articles/<int:article_id>/open",
        suggestions.open_article,
        name="open_article",
    ),
    path(
        "api/<uuid:inbox_public_id>/episodes/<int:episode_id>/rating",
        suggestions.rate_episode,
        name="rate_episode",
    ),
    # The customer's answer to a satisfaction survey (widget/survey_views.py).
    path(
        "api/<uuid:inbox_public_id>/surveys/<str:token>/answer",
        survey_views.answer,
        name="survey_answer",
    ),
    path("demo/", views.demo, name="demo"),
    # The Teamline-origin window for passkeys when the widget is on a brand's own domain.
    path("passkey/", passkey_views.window, name="passkey_window"),
    path("passkey/options", passkey_views.options, name="passkey_options"),
    path("passkey/finish", passkey_views.finish, name="passkey_finish"),
    # The Teamline-origin window for signing in with the brand's own provider.
    path("oidc/", oidc_views.start, name="oidc_window"),
    path("oidc/callback", oidc_views.callback, name="oidc_callback"),
]
