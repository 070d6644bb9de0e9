from django.urls import path

from . import views

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
    path("demo/", views.demo, name="demo"),
]
