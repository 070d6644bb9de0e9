from django.urls import path

from . import views

app_name = "widget"
urlpatterns = [
    path("api/<uuid:inbox_public_id>/session", views.session, name="session"),
    path("demo/", views.demo, name="demo"),
]
