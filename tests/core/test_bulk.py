"""update_rows writes each row's own values (dates, JSON, foreign keys) and honours only_if."""

from datetime import UTC, datetime

import pytest

from teamline.core.bulk import update_rows
from teamline.core.testing import create_agent, create_customer, create_team
from teamline.routing.models import WorkItem

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def test_each_row_gets_its_own_values_and_only_rows_still_matching_change():
    team = create_team()
    agent = create_agent(team=team)
    customer = create_customer(team=team)
    first, second, third = (
        WorkItem.objects.create(customer=customer, home_team=team) for _ in range(3)
    )
    WorkItem.objects.filter(pk=third.pk).update(state="done")  # changed meanwhile
    when = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
    first.assignee, first.needed_skills, first.assigned_at = agent, {"billing": 2}, when
    second.assignee, second.needed_skills, second.assigned_at = None, {}, None
    third.assignee, third.needed_skills = agent, {"roaming": 1}
    for row in (first, second, third):
        row.state = "assigned"

    update_rows(
        WorkItem,
        [first, second, third],
        ["state", "assignee", "needed_skills", "assigned_at"],
        only_if={"state": "queued"},
    )

    first.refresh_from_db(), second.refresh_from_db(), third.refresh_from_db()
    assert (first.state, first.assignee_id, first.needed_skills, first.assigned_at) == (
        "assigned",
        agent.pk,
        {"billing": 2},
        when,
    )
    assert (second.state, second.assignee_id, second.needed_skills) == ("assigned", None, {})
    assert (third.state, third.assignee_id, third.needed_skills) == ("done", None, {})


def test_a_name_that_is_not_a_column_is_refused():
    with pytest.raises(ValueError, match="not a column"):
        update_rows(WorkItem, [WorkItem(pk=1)], ["entries"])
