from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "teamline.search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        # Models load before ready(): the indexer loop (it imports them) is registered here.
        from django.db.models.signals import post_migrate

        from teamline.core.worker import register_loop

        from .tasks import index_loop
        from .triggers import ensure_triggers

        register_loop("search.index", index_loop)
        # A SQLite table rebuilt by a later migration (ALTER TABLE is a copy there) loses its
        # triggers: they are put back after every migrate.
        post_migrate.connect(ensure_triggers, dispatch_uid="search.ensure_triggers")
