from django.urls import path

from . import views

app_name = "surveys"
urlpatterns = [
    # The email's signed link per score (no sign-in): a page to confirm, then recorded.
    path("a/<str:signed>/", views.answer_page, name="answer"),
]
