from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("<slug:provider>/<str:inbox_id>/", views.webhook, name="inbound"),
    path("<slug:provider>/<str:inbox_id>/<path:suffix>", views.webhook, name="inbound_suffix"),
]
