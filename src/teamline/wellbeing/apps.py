from django.apps import AppConfig


class WellbeingConfig(AppConfig):
    name = "teamline.wellbeing"
    label = "wellbeing"
    verbose_name = "Wellbeing"

    def ready(self) -> None:
        # Models load before ready(): the hook (it imports them) is provided here.
        from teamline.conversations.hooks import provide_sentiment
        from teamline.core.periodic import register_periodic

        from .hooks import WellbeingSentiment
        from .tasks import sweep_wellbeing

        provide_sentiment(WellbeingSentiment())
        register_periodic("wellbeing.sweep", sweep_wellbeing)
