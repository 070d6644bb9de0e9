from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "teamline.surveys"
    label = "surveys"
    verbose_name = "Surveys"

    def ready(self) -> None:
        # Models load before ready(): the hooks (they import them) are provided here.
        from teamline.conversations.hooks import provide_replies, provide_resolutions

        from .replies import SurveyReplies

        provider = SurveyReplies()
        provide_replies(provider)
        provide_resolutions(provider)
