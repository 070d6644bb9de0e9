from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "teamline.routing"
    label = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from teamline.teams.hours import note_config_change
        from teamline.teams.models import BusinessHours, Holiday, Team

        from .models import RoutingPolicy, RoutingStep, ServiceLevelTarget

        def changed(**_kwargs: object) -> None:
            note_config_change()

        # Routing caches calendars and policies per process (routing/queries.py).
        for model in (Team, BusinessHours, Holiday, RoutingPolicy, RoutingStep, ServiceLevelTarget):
            uid = f"routing-config-{model.__name__}"
            post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
            post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}-delete")
        m2m_changed.connect(
            changed,
            sender=RoutingStep.target_teams.through,
            weak=False,
            dispatch_uid="routing-config-m2m",
        )
