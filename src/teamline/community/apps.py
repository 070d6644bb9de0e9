from django.apps import AppConfig


class CommunityConfig(AppConfig):
    name = "teamline.community"
    label = "community"
    verbose_name = "Community Q&A"

    def ready(self) -> None:
        # Models load before ready(): the presenter (it imports them) is provided here.
        from teamline.knowledge.hooks import provide_search_presenter
        from teamline.knowledge.search import QUESTION

        from .search import QuestionPresenter

        provide_search_presenter(QUESTION, QuestionPresenter())
