from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teamline.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self) -> None:
        # Models are loaded only now (docs/adr/0005): accounts asks who an agent's teams are
        # through its hooks, never by importing teams.
        from teamline.accounts import hooks as accounts_hooks

        from . import queries

        accounts_hooks.provide_teams(queries)
