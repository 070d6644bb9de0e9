"""The periodic session job: idle sessions end, recently ended ones' desks are closed again
(accounts.actions.do_sweep_sessions). Registered in AccountsConfig.ready."""

from __future__ import annotations

from django_tasks import task

from .actions import do_sweep_sessions


@task()
def sweep_sessions() -> dict[str, int]:
    return do_sweep_sessions()
