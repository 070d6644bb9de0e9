from django.urls import path

from . import views

app_name = "community"

urlpatterns = [
    path("", views.index, name="index"),
    path("sign-in", views.sign_in, name="sign_in"),
    path("sign-in/code", views.sign_in_code, name="sign_in_code"),
    path("sign-out", views.sign_out, name="sign_out"),
    path("moderation/", views.moderation, name="moderation"),
    path("questions/<str:question_id>/", views.question, name="question"),
    path("questions/<str:question_id>/answer", views.answer, name="answer"),
    path("questions/<str:question_id>/lock", views.lock, name="lock"),
    path("questions/<str:question_id>/to-article", views.to_article, name="to_article"),
    path(
        "questions/<str:question_id>/to-conversation",
        views.to_conversation,
        name="to_conversation",
    ),
    path("posts/<str:post_id>/<str:verb>", views.post_action, name="post_action"),
    path("<str:language>/", views.question_list, name="list"),
    path("<str:language>/ask", views.ask, name="ask"),
]
