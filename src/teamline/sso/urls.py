from django.urls import path

from . import views

# Mounted under /accounts/ before allauth's own URLs, so this callback answers allauth's path.
urlpatterns = [
    path("oidc/<str:provider_id>/login/callback/", views.oidc_callback),
]
