from django.apps import apps

from teamline.analytics import erlang, queries


def test_analytics_app_is_installed() -> None:
    config = apps.get_app_config("analytics")
    assert config.name == "teamline.analytics"
    assert {model.__name__ for model in config.get_models()} == {
        "Contact",
        "ContactFact",
        "FactLedger",
        "ReportDelivery",
        "ReportSchedule",
    }


def test_queries_expose_the_staffing_formulas() -> None:
    assert set(erlang.__all__) <= set(queries.__all__)
    assert set(queries.__all__) - set(erlang.__all__) == {
        "contact_team_ids",
        "kpi_totals",
        "kpis",
        "team_today",
    }
    for name in erlang.__all__:
        assert getattr(queries, name) is getattr(erlang, name)
