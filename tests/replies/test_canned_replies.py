"""Canned replies: who writes which scope (agents their personal replies, supervisors their
team's, admins the global ones), who sees which, and how a reply is filled in — in the
customer's language, with their first name, the agent's name and the team's hours today,
substituted safely (a value is never expanded again; an unknown name is refused on save)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from teamline.core.errors import Forbidden, InvalidInput, NotFound
from teamline.core.testing import create_agent, create_customer, create_team, create_user
from teamline.replies.actions import (
    do_create_canned_reply,
    do_delete_canned_reply,
    do_update_canned_reply,
)
from teamline.replies.queries import access_canned_reply, search_canned_replies
from teamline.replies.rendering import Filler, pick_language, substitute
from teamline.teams.actions import do_add_holiday, do_set_business_hours

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

HELLO = {
    "en": "Hi {{customer.first_name}}, this is {{agent.name}}. We are open {{team.hours_today}}.",
    "nb": "Hei {{customer.first_name}}, dette er {{agent.name}}. "
    "Vi har åpent {{team.hours_today}}.",
}


@pytest.fixture
def oslo():
    return create_team("Oslo", timezone="Europe/Oslo")


@pytest.fixture
def kari(oslo):
    return create_agent("kari", team=oslo, display_name="Kari Nordmann")


@pytest.fixture
def siv(oslo):
    return create_user("siv", role="supervisor", supervises=oslo)


@pytest.fixture
def admin():
    return create_user("admin", role="admin")


# --- Who writes and sees which scope --------------------------------------------------------


def test_an_agent_writes_personal_replies_only(kari, oslo):
    mine = do_create_canned_reply(scope="personal", title="Hello", texts=HELLO, actor=kari)
    assert mine.owner == kari and mine.team is None
    with pytest.raises(Forbidden):
        do_create_canned_reply(scope="team", team=oslo, title="T", texts=HELLO, actor=kari)
    with pytest.raises(Forbidden):
        do_create_canned_reply(scope="global", title="G", texts=HELLO, actor=kari)


def test_a_supervisor_writes_their_teams_replies_and_an_admin_the_global_ones(siv, admin, oslo):
    bergen = create_team("Bergen")
    team = do_create_canned_reply(scope="team", team=oslo, title="T", texts=HELLO, actor=siv)
    assert team.team == oslo and team.owner is None
    with pytest.raises(Forbidden):
        do_create_canned_reply(scope="team", team=bergen, title="T", texts=HELLO, actor=siv)
    with pytest.raises(Forbidden):
        do_create_canned_reply(scope="global", title="G", texts=HELLO, actor=siv)
    assert do_create_canned_reply(scope="global", title="G", texts=HELLO, actor=admin).pk


def test_nobody_sees_another_persons_personal_replies_or_another_teams(kari, siv, oslo):
    ola = create_agent("ola", team=oslo)
    bergen = create_team("Bergen")
    bjorn = create_agent("bjorn", team=bergen)
    personal = do_create_canned_reply(scope="personal", title="Mine", texts=HELLO, actor=kari)
    team = do_create_canned_reply(scope="team", team=oslo, title="Oslo's", texts=HELLO, actor=siv)

    assert access_canned_reply(kari, personal.pk) == personal
    assert access_canned_reply(ola, team.pk) == team
    for who, reply in ((ola, personal), (bjorn, personal), (bjorn, team)):
        with pytest.raises(NotFound):
            access_canned_reply(who, reply.pk)
    for bad in ("x", "0", str(2**70)):
        with pytest.raises(NotFound):
            access_canned_reply(kari, bad)


def test_only_the_owner_changes_a_personal_reply_and_agents_not_a_teams(kari, siv, oslo):
    ola = create_agent("ola", team=oslo)
    personal = do_create_canned_reply(scope="personal", title="Mine", texts=HELLO, actor=kari)
    team = do_create_canned_reply(scope="team", team=oslo, title="Oslo", texts=HELLO, actor=siv)
    with pytest.raises(Forbidden):
        do_update_canned_reply(personal, title="X", texts=HELLO, actor=siv)
    with pytest.raises(Forbidden):
        do_delete_canned_reply(team, actor=ola)
    changed = do_update_canned_reply(team, title="Opening hours", texts=HELLO, actor=siv)
    assert changed.title == "Opening hours"
    do_delete_canned_reply(personal, actor=kari)
    with pytest.raises(NotFound):
        access_canned_reply(kari, personal.pk)


def test_search_finds_by_title_shortcut_or_text(kari):
    do_create_canned_reply(
        scope="personal", title="Router reset", shortcut="reset", texts={"en": "Unplug it."},
        actor=kari,
    )  # fmt: skip
    do_create_canned_reply(scope="personal", title="Hello", texts=HELLO, actor=kari)
    assert [r.title for r in search_canned_replies(kari, "RESET")] == ["Router reset"]
    assert [r.title for r in search_canned_replies(kari, "unplug")] == ["Router reset"]
    assert len(search_canned_replies(kari, "")) == 2


# --- What a reply may hold ------------------------------------------------------------------


def test_an_unknown_variable_is_refused_with_its_name(kari):
    with pytest.raises(InvalidInput) as refused:
        do_create_canned_reply(
            scope="personal", title="Oops", texts={"en": "Hi {{customer.last_name}}"}, actor=kari
        )
    assert "{{customer.last_name}}" in refused.value.message


@pytest.mark.parametrize(
    "texts",
    [
        {},
        {"en": "   "},
        {"xx": "Hello"},
        {"en": "x" * 5001},
        {"en": "Hi\x00"},
        {"en": "Hi \ud800"},
        {"nb": "Hei", "no": "Hei igjen"},
        {"en": "{{ __class__ }}"},
    ],
)
def test_texts_must_be_in_the_six_languages_bounded_and_storable(kari, texts):
    with pytest.raises(InvalidInput):
        do_create_canned_reply(scope="personal", title="Bad", texts=texts, actor=kari)


def test_language_tags_map_to_the_six(kari):
    reply = do_create_canned_reply(
        scope="personal", title="T", texts={"nb-NO": "Hei", "zh-TW": "你好", "EN": "Hi"}, actor=kari
    )
    assert reply.texts == {"en": "Hi", "nb": "Hei", "zh-hant": "你好"}


def test_bad_titles_and_shortcuts_are_refused(kari):
    for title, shortcut in (("", ""), ("x" * 101, ""), ("Ok", "has space"), ("Ok", "x" * 40)):
        with pytest.raises(InvalidInput):
            do_create_canned_reply(
                scope="personal", title=title, shortcut=shortcut, texts=HELLO, actor=kari
            )


# --- Filling a reply in ---------------------------------------------------------------------


def test_the_customers_language_then_the_inboxs_then_any_is_picked():
    texts = {"en": "Hi", "nb": "Hei", "pt": "Olá"}
    assert pick_language(texts, "nb", {}) == "nb"
    assert pick_language(texts, "no-NO", {}) == "nb"
    assert pick_language(texts, "zh-TW", {"language": "pt-BR"}) == "pt"
    assert pick_language(texts, "", {}) == "en"
    assert pick_language({"et": "Tere"}, "nb", {"language": "pt"}) == "et"


def test_values_are_substituted_once_and_never_expanded_again():
    text = "Hi {{customer.first_name}} from {{ agent.name }} {{unknown}}"
    values = {"customer.first_name": "{{agent.name}}", "agent.name": "Kari"}
    assert substitute(text, values) == "Hi {{agent.name}} from Kari {{unknown}}"


def test_a_norwegian_customer_gets_the_norwegian_text_filled_in(kari, oslo):
    do_set_business_hours(oslo, [(wd, time(8), time(16)) for wd in range(5)])
    astrid = create_customer(team=oslo, name="Astrid Lund", preferred_language="nb")
    tuesday_noon = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    filler = Filler(customer=astrid, inbox_config={}, agent=kari, team=oslo, now=tuesday_noon)

    rendered = filler.render(HELLO)

    assert rendered.language == "nb"
    assert rendered.text == "Hei Astrid, dette er Kari Nordmann. Vi har åpent 08:00–16:00."
    assert rendered.unknown == ()


def test_the_hours_say_when_the_team_is_closed_today(kari, oslo):
    do_set_business_hours(oslo, [(wd, time(8), time(16)) for wd in range(5)])
    customer = create_customer(team=oslo, name="Per", preferred_language="en")
    sunday = datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    filler = Filler(customer=customer, inbox_config={}, agent=kari, team=oslo, now=sunday)
    assert filler.render({"en": "{{team.hours_today}}"}).text == "closed today"

    do_add_holiday(oslo, datetime(2026, 3, 10).date(), "Test day")
    holiday = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    filler = Filler(customer=customer, inbox_config={}, agent=kari, team=oslo, now=holiday)
    assert filler.render({"en": "{{team.hours_today}}"}).text == "closed today (a holiday)"


def test_a_nameless_customer_leaves_the_first_name_empty(kari, oslo):
    visitor = create_customer(team=oslo, name=" ")
    filler = Filler(customer=visitor, inbox_config={}, agent=kari, team=oslo, now=datetime.now(UTC))
    assert filler.render({"en": "Hi {{customer.first_name}}!"}).text == "Hi !"


def test_the_hours_are_said_in_the_customers_language(kari, oslo):
    # No weekly hours: the team is open around the clock.
    customer = create_customer(team=oslo, name="Mei Lin", preferred_language="zh-TW")
    now = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)
    filler = Filler(customer=customer, inbox_config={}, agent=kari, team=oslo, now=now)
    texts = {
        "en": "Open {{team.hours_today}}",
        "zh-hant": "營業時間：{{team.hours_today}}",
        "nb": "Åpent: {{team.hours_today}}",
    }
    assert filler.render(texts).text == "營業時間：全天24小時營業"
    nora = create_customer(team=oslo, name="Nora", preferred_language="nb")
    filler = Filler(customer=nora, inbox_config={}, agent=kari, team=oslo, now=now)
    assert filler.render(texts).text == "Åpent: døgnåpent"
