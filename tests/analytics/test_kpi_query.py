"""The KPI read at scale (docs/benchmarks.md, "KPIs"): a month by day costs the same
statements as a day, reads the team's fact rows through the (team, interval) index one range
a local day (SQLite) or one range grouped by local date (PostgreSQL), and sums them in the
database — so its cost follows the rows of the range, never the size of the table or the number
of days."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from teamline.analytics.queries import kpis
from tests.analytics.conftest import utc
from tests.analytics.test_kpi_api import URL, client_for

pytestmark = pytest.mark.django_db


def fact_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "analytics_contactfact" in q["sql"]]


def statements(client, query: dict[str, object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, query)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def test_a_month_by_day_costs_the_statements_of_a_single_day(day, clock):
    clock(utc(20, 12, 0))
    siv = client_for(day.siv)
    one_day = {"team": day.oslo.pk, "from": "2026-03-10", "to": "2026-03-10", "interval": "1d"}
    month = {**one_day, "from": "2026-03-01", "to": "2026-03-31"}
    statements(siv, one_day)  # the token's first use is remembered once
    assert statements(siv, month) == statements(siv, one_day)


def test_the_month_is_one_indexed_query_summed_per_local_day_in_the_database(day, clock):
    clock(utc(20, 12, 0))
    with CaptureQueriesContext(connection) as captured:
        days = kpis(
            day.oslo, start=utc(1, 0, 0), end=utc(31, 0, 0), interval="1d", now=utc(20, 12, 0)
        )
    assert len(days) == 31  # 1–31 March, local (the month has a DST change on the 29th)
    assert [d["offered"] for d in days if d["offered"]] == [6]
    (sql,) = fact_queries(captured)
    if connection.vendor == "sqlite":
        # No time zone conversion per stored row (a Python call on SQLite): the local days
        # are bounds already.
        assert "django_datetime" not in sql
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
            ranges = "(team_id=? AND interval_start>? AND interval_start<?)"
            assert f"SEARCH f USING INDEX contact_fact_team {ranges}" in plan, plan
        else:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
            plan = " | ".join(row[0] for row in cursor.fetchall())
            assert "contact_fact_team" in plan, plan
    assert "SCAN f" not in plan and "Seq Scan" not in plan, plan
