from django.apps import apps

from teamline.analytics import erlang, queries


def test_analytics_app_is_installed() -> None:
    config = apps.get_app_config("analytics")
    assert config.name == "teamline.analytics"
    assert list(config.get_models()) == []


def test_queries_expose_the_staffing_formulas() -> None:
    assert set(queries.__all__) == set(erlang.__all__)
    for name in queries.__all__:
        assert getattr(queries, name) is getattr(erlang, name)
