from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "teamline.routing"
    label = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        # Models are loaded only now, so everything is imported here (docs/adr/0005).
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from teamline.accounts import hooks as accounts_hooks
        from teamline.conversations import hooks as conversations_hooks
        from teamline.core.periodic import register_periodic
        from teamline.teams.hours import note_config_change
        from teamline.teams.models import BusinessHours, Holiday, Team

        from . import actions, tasks
        from .models import RoutingPolicy, RoutingStep, ServiceLevelTarget

        # Accounts and conversations ask routing for decisions through their hooks: they sit
        # below routing and never import it.
        accounts_hooks.provide_routing(actions)
        conversations_hooks.provide_routing(actions)
        # The worker in core enqueues these once per tick slot; core cannot import routing.
        register_periodic("sweep_queues", tasks.sweep_queues)
        register_periodic("wake_snoozed", tasks.wake_snoozed)
        register_periodic("run_appointments", tasks.run_appointments)
        register_periodic("push_queue_positions", tasks.push_queue_positions)

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
