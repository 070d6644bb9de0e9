from django.apps import AppConfig

# The help center's header links to the community in the visitor's language.
LINK_TEXT = {
    "en": "Community",
    "nb": "Fellesskap",
    "zh-hans": "社区",
    "zh-hant": "社群",
    "et": "Kogukond",
    "pt": "Comunidade",
}


class CommunityConfig(AppConfig):
    name = "teamline.community"
    label = "community"
    verbose_name = "Community Q&A"

    def ready(self) -> None:
        # Models load before ready(): the presenter (it imports them) is provided here.
        from teamline.knowledge.hooks import (
            HelpCenterLink,
            provide_help_center_link,
            provide_search_presenter,
        )
        from teamline.knowledge.search import QUESTION

        from .search import QuestionPresenter

        provide_search_presenter(QUESTION, QuestionPresenter())
        provide_help_center_link(HelpCenterLink(text=LINK_TEXT, url_name="community:list"))
