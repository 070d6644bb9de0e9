from django.urls import path

from . import views

app_name = "help"

urlpatterns = [
    path("", views.index, name="index"),
    path("search", views.search_page, name="search"),
    path("api/search", views.search_json, name="search_json"),
    path("<str:language>/", views.home, name="home"),
    path("<str:language>/<str:slug>/", views.article, name="article"),
]
