from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teamline.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        # Models are loaded only now (docs/adr/0005): accounts asks who an agent's teams are
        # through its hooks, never by importing teams.
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from teamline.accounts import hooks as accounts_hooks
        from teamline.accounts.models import AgentProfile, User

        from . import queries
        from .hours import note_config_change
        from .models import CalendarEntry, Team
        from .presenters import team_card_changed

        accounts_hooks.provide_teams(queries)

        def changed(**_kwargs: object) -> None:
            note_config_change()

        # Routing caches team calendars per process (routing/queries.py); official calendar
        # entries edited in the admin must reach it like hours and holidays do.
        post_save.connect(changed, sender=CalendarEntry, weak=False, dispatch_uid="teams-entry")
        post_delete.connect(
            changed, sender=CalendarEntry, weak=False, dispatch_uid="teams-entry-delete"
        )

        # The widget's team cards are kept per process for a moment (presenters.py): any change
        # to what a card shows forgets them.
        for model in (Team, User, AgentProfile):
            name = model.__name__.lower()
            post_save.connect(team_card_changed, sender=model, dispatch_uid=f"card-{name}")
            post_delete.connect(team_card_changed, sender=model, dispatch_uid=f"card-{name}-del")
        m2m_changed.connect(
            team_card_changed, sender=Team.members.through, dispatch_uid="card-members"
        )
