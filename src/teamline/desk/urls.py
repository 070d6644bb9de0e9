from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "desk"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="desk/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("presence/", views.presence, name="presence"),
    path("conversations/<int:conversation_id>/", views.conversation, name="conversation"),
    path("conversations/<int:conversation_id>/reply/", views.reply, name="reply"),
    path("conversations/<int:conversation_id>/note/", views.note, name="note"),
    path("conversations/<int:conversation_id>/status/", views.change_status, name="status"),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path(
        "customers/<int:customer_id>/merge/<int:source_id>/",
        views.merge_customer,
        name="merge_customer",
    ),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
]
