"""The statements every inbound message and every agent request runs, compiled once per database
and then only executed (core/compiled.py): the lock on the customer's latest conversation, read
with what its events present (conversations/locks.py), the staff taking part in it
(conversations/queries.py), opening a conversation under the visibility rule, the reply's lock
and the API token by its hash.
What they return must be what the ORM would return, with the same related objects and values,
on SQLite and on PostgreSQL. The message's INSERT and the conversation's counters UPDATE are
written out the same way and must store what `Model.save` stores."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save, pre_save
from django.db.transaction import TransactionManagementError

from teamline.accounts.actions import (
    do_create_api_token,
    do_revoke_api_token,
    do_set_expert_available,
    find_api_token,
)
from teamline.accounts.models import Role
from teamline.analytics.models import Contact
from teamline.conversations.locks import (
    PRESENTED,
    lock_latest_conversation,
    lock_presented_conversation,
)
from teamline.conversations.models import (
    Conversation,
    ConversationParticipant,
    Message,
    TimelineEvent,
)
from teamline.conversations.queries import (
    access_conversation,
    participant_ids,
    visible_conversations,
)
from teamline.core.compiled import CompiledInsert, CompiledOnce
from teamline.core.errors import NotFound
from teamline.core.testing import (
    create_agent,
    create_customer,
    create_inbox,
    create_team,
    create_user,
    customer_says,
)
from teamline.customers.models import Customer, Identity
from teamline.routing.actions import do_assign_conversation
from teamline.routing.models import WorkItem
from teamline.routing.transfers import do_invite_expert, do_leave_conversation
from teamline.teams.models import Team

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


def orm_latest(customer_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_related(*PRESENTED)
        .filter(customer_id=customer_id)
        .order_by("-created_at", "-pk")
        .first()
    )


def test_the_lock_returns_the_latest_conversation_as_the_orm_reads_it():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    inbox = create_inbox(oslo)
    ingrid = create_customer(team=oslo, name="Ingrid Lie")
    first, _ = customer_says(ingrid, "My router blinks red", inbox=inbox)
    do_assign_conversation(first.conversation, kari, actor=None, reason="lock test")
    liv = create_customer(team=oslo, name="Liv Aas")
    customer_says(liv, "I need a new SIM card.", inbox=inbox)

    for customer in (ingrid, liv):
        expected = orm_latest(customer.pk)
        with transaction.atomic():
            locked = lock_latest_conversation(customer.pk)
        assert locked is not None and expected is not None
        assert locked.pk == expected.pk
        assert {
            f.attname: getattr(locked, f.attname) for f in Conversation._meta.concrete_fields
        } == {f.attname: getattr(expected, f.attname) for f in Conversation._meta.concrete_fields}
        # What the events present came in the same statement, as the ORM builds it.
        assert locked.team.name == "Oslo"
        assert locked.customer.name == customer.name
        assert (locked.assignee and locked.assignee.pk) == (
            expected.assignee and expected.assignee.pk
        )
    with transaction.atomic():
        assert lock_latest_conversation(ingrid.pk).assignee.display_name == "Kari Nordmann"


def test_a_customer_without_a_conversation_has_nothing_to_lock():
    nobody = create_customer(name="New visitor")
    with transaction.atomic():
        assert lock_latest_conversation(nobody.pk) is None


@pytest.mark.django_db(transaction=True)
def test_the_lock_refuses_to_run_outside_a_transaction():
    someone = create_customer(name="Someone")
    with pytest.raises(TransactionManagementError):
        lock_latest_conversation(someone.pk)


def test_the_staff_taking_part_are_the_experts_still_in_the_conversation():
    oslo, back_office = create_team("Oslo"), create_team("Back office")
    kari = create_agent("kari", team=oslo)
    erik = create_agent("erik", team=back_office)
    nora = create_agent("nora", team=back_office)
    for expert in (erik, nora):
        do_set_expert_available(expert, True, actor=expert)
    ingrid = create_customer(team=oslo, name="Ingrid Lie")
    message, _ = customer_says(ingrid, "Can I keep my number?", inbox=create_inbox(oslo))
    conversation = message.conversation
    do_assign_conversation(conversation, kari, actor=None, reason="lock test")
    assert participant_ids(conversation.pk) == []

    do_invite_expert(conversation, actor=kari, expert=erik)
    do_invite_expert(conversation, actor=kari, expert=nora)
    do_leave_conversation(conversation, actor=erik)

    still_in = ConversationParticipant.objects.filter(
        conversation=conversation, left_at__isnull=True
    ).values_list("user_id", flat=True)
    assert sorted(participant_ids(conversation.pk)) == sorted(still_in) == [nora.pk]
    assert participant_ids(conversation.pk + 1000) == []


def test_an_inbound_message_is_stored_as_the_orm_stores_a_message():
    oslo = create_team("Oslo")
    ingrid = create_customer(team=oslo, name="Ingrid Lie")
    inbox = create_inbox(oslo)
    first, _ = customer_says(ingrid, "Hei!", inbox=inbox)
    message, _ = customer_says(ingrid, "Roaming i Sverige? 🇸🇪 æøå", inbox=inbox)

    # What the action holds is what the database holds, saved as Model.save leaves it.
    assert message.pk is not None and not message._state.adding
    stored = Message.objects.get(pk=message.pk)
    columns = [f.attname for f in Message._meta.concrete_fields]
    assert {c: getattr(stored, c) for c in columns} == {c: getattr(message, c) for c in columns}
    # The same values through the ORM give the same row, field for field.
    copied = {c: getattr(message, c) for c in columns if c not in ("id", "external_id")}
    twin = Message.objects.create(**copied, external_id="orm-twin")
    twin.refresh_from_db()
    for column in columns:
        if column not in ("id", "external_id"):
            assert getattr(twin, column) == getattr(stored, column), column

    # The conversation's counters were written for both messages.
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.unread_count == 2
    assert conversation.last_message_at == message.created_at == conversation.updated_at
    assert first.conversation_id == message.conversation_id


def test_nothing_listens_to_the_saves_the_compiled_writes_skip():
    # core/compiled.py sends no pre_save/post_save: a receiver added for these models would
    # silently miss every inbound message, so it must come with the ORM path back. The rows a
    # new customer's first message writes are all written that way.
    for model in (Message, Conversation, TimelineEvent, Customer, Identity, WorkItem, Contact):
        assert not pre_save.has_listeners(model) and not post_save.has_listeners(model)


def fields_of(conversation: Conversation) -> dict[str, object]:
    return {f.attname: getattr(conversation, f.attname) for f in Conversation._meta.concrete_fields}


def test_opening_a_conversation_allows_exactly_what_the_visibility_rule_allows():
    """access_conversation's one compiled statement answers as visible_conversations does: the
    team's agents, the assignee from another team, an expert until they leave, every admin."""
    oslo, bergen, back_office = create_team("Oslo"), create_team("Bergen"), create_team("Back")
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    ola = create_agent("ola", team=bergen)
    nora = create_agent("nora", team=back_office)
    admin = create_user("root", role=Role.ADMIN)
    do_set_expert_available(nora, True, actor=nora)
    message, _ = customer_says(create_customer(team=oslo, name="Ingrid"), "Roaming?")
    conversation = message.conversation

    def allowed(actor) -> bool:
        rule = visible_conversations(actor).filter(pk=conversation.pk).exists()
        try:
            opened = access_conversation(actor, str(conversation.pk))
        except NotFound:
            assert not rule
            return False
        assert rule and fields_of(opened) == fields_of(Conversation.objects.get(pk=opened.pk))
        assert opened.team.name == "Oslo" and opened.customer.name == "Ingrid"
        return True

    assert [allowed(who) for who in (kari, ola, nora, admin)] == [True, False, False, True]
    do_assign_conversation(conversation, ola, actor=None, reason="overflow", require_member=False)
    assert allowed(ola) and access_conversation(ola, conversation.pk).assignee.pk == ola.pk
    do_invite_expert(conversation, actor=ola, expert=nora)
    assert allowed(nora)
    do_leave_conversation(conversation, actor=nora)
    assert not allowed(nora)
    with pytest.raises(NotFound):
        access_conversation(admin, conversation.pk + 1000)


def test_the_reply_lock_reads_the_conversation_as_the_orm_reads_it():
    oslo = create_team("Oslo")
    kari = create_agent("kari", team=oslo, display_name="Kari Nordmann")
    message, _ = customer_says(create_customer(team=oslo, name="Liv"), "Hello")
    do_assign_conversation(message.conversation, kari, actor=None, reason="lock test")
    expected = Conversation.objects.select_related(*PRESENTED).get(pk=message.conversation_id)
    with transaction.atomic():
        locked = lock_presented_conversation(expected.pk)
        assert fields_of(locked) == fields_of(expected)
        assert locked.assignee.display_name == "Kari Nordmann" and locked.customer.name == "Liv"
        with pytest.raises(Conversation.DoesNotExist):
            lock_presented_conversation(expected.pk + 1000)


def test_an_api_token_is_found_by_its_secret_until_it_is_revoked_or_its_user_leaves():
    kari = create_agent("kari", team=create_team("Oslo"))
    token, secret = do_create_api_token(kari, name="app", actor=kari)
    found = find_api_token(secret)
    assert found is not None and found.pk == token.pk and found.user.username == "kari"
    assert find_api_token(secret[:-1] + ("x" if secret[-1] != "x" else "y")) is None
    get_user_model().objects.filter(pk=kari.pk).update(is_active=False)
    assert find_api_token(secret) is None
    get_user_model().objects.filter(pk=kari.pk).update(is_active=True)
    do_revoke_api_token(token, actor=kari)
    assert find_api_token(secret) is None


def test_a_compiled_statement_takes_one_value_per_marker():
    by_two = CompiledOnce(
        lambda team_id, pk: Conversation.objects.filter(team_id=team_id, pk=pk),
        markers=(CompiledOnce.ID, CompiledOnce.ID_2),
    )
    message, _ = customer_says(create_customer(team=create_team("Oslo"), name="Ada"), "Hi")
    conversation = message.conversation
    assert by_two.first(conversation.team_id, conversation.pk).pk == conversation.pk
    assert by_two.first(conversation.team_id + 1, conversation.pk) is None
    with pytest.raises(TypeError):
        by_two.first(conversation.pk)
    with pytest.raises(ValueError):
        CompiledOnce(lambda a, b: Conversation.objects.filter(pk=a), markers=(1, 1))


def test_an_insert_that_skips_existing_rows_skips_only_a_unique_conflict():
    """insert_new answers False for a row a unique constraint already holds, with no error and
    no savepoint; a row that breaks another constraint is an error as ever, never skipped."""
    team_insert = CompiledInsert(Team)
    first = Team(name="Oslo", slug="oslo")
    assert team_insert.insert_new(first) and first.pk is not None
    again = Team(name="Oslo again", slug="oslo")
    assert team_insert.insert_new(again) is False and again.pk is None
    assert list(Team.objects.filter(slug="oslo").values_list("name", flat=True)) == ["Oslo"]
    with pytest.raises(IntegrityError), transaction.atomic():
        team_insert.insert_new(Team(name=None, slug="bergen"))  # NOT NULL
    assert not Team.objects.filter(slug="bergen").exists()
