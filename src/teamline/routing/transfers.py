"""People moving work between them: transfers, supervisors' reassignments, experts, and the
customer's routing choices as staff set them on the desk.

- `do_transfer_conversation` hands a conversation to an agent, a team or a skill queue with a
  note. It re-enters routing through the same claim and placement code as any new contact
  (routing/actions.py), keeping its original enqueue time so the customer keeps their place.
- `do_reassign_conversation`: supervisors and admins give anything in their teams to a member.
- `do_invite_expert` / `do_leave_conversation`: a second participant who helps without taking
  the conversation over (ConversationParticipant); they may read and write while they take part.

Who may do what is decided here (`can_transfer`, `can_supervise`, `can_set_preferences`), so
the desk and the API answer the same. Ids from requests are resolved by the access_* helpers
below, which raise NotFound for anything the actor may not pick.

Locks, in routing's order (agent profile → conversation → customer → work item): a transfer
locks the conversation, then rewrites its work item; the claim that follows (after the transfer
committed when the caller holds no outer transaction) locks the agent profile first, exactly as
routing does, so capacity is never exceeded and a conversation is never given to two agents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from teamline.accounts.models import Presence, Role, User
from teamline.analytics import actions as analytics
from teamline.conversations.events import conversation_recipients, emit_conversation, record
from teamline.conversations.locks import lock_conversation
from teamline.conversations.models import (
    Conversation,
    ConversationParticipant,
    ParticipantRole,
    Status,
    TimelineKind,
)
from teamline.conversations.presenters import present_conversation
from teamline.conversations.replies import do_add_note
from teamline.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from teamline.core.events import (
    Event,
    EventType,
    Recipients,
    send_event_on_commit,
    team_group,
    user_group,
)
from teamline.core.ids import parse_id
from teamline.customers.models import Customer
from teamline.teams.models import Team
from teamline.teams.queries import membership_team_ids

from . import engine
from .actions import (
    ASSIGNED,
    MAX_CLAIM_TRIES,
    TAKEN,
    _safe_claim,
    do_assign_conversation,
    do_set_routing_preference,
    enqueue_conversation,
    queue_threshold,
)
from .models import LIVE_STATES, CustomerRoutingPreference, QueueEntry, WorkItem, WorkState
from .placement import apply_placement
from .queries import item_snapshot, known_skills, load_context, policy_by_id

TO_AGENT, TO_TEAM, TO_SKILL = "agent", "team", "skill"
MAX_SKILL = 50


# --- Who may do what ------------------------------------------------------------------------


def can_supervise(actor: User, conversation: Conversation) -> bool:
    """Admins, and supervisors of (or in) the conversation's team."""
    if actor.is_admin:
        return True
    return (
        actor.is_active
        and actor.role == Role.SUPERVISOR
        and conversation.team_id in membership_team_ids(actor)
    )


def can_transfer(actor: User, conversation: Conversation) -> bool:
    """The assignee, supervisors and admins; any member of the team while nobody has it."""
    if conversation.assignee_id == actor.pk or can_supervise(actor, conversation):
        return True
    return conversation.assignee_id is None and conversation.team_id in membership_team_ids(actor)


def can_set_preferences(actor: User, conversation: Conversation) -> bool:
    """The customer's routing choices: changed by the assigned agent, supervisors and admins
    (everyone who can see the customer can read them)."""
    return conversation.assignee_id == actor.pk or can_supervise(actor, conversation)


def can_remove_expert(actor: User, conversation: Conversation, expert: User) -> bool:
    return (
        actor.pk == expert.pk
        or conversation.assignee_id == actor.pk
        or can_supervise(actor, conversation)
        or ConversationParticipant.objects.filter(
            conversation=conversation, user=expert, left_at__isnull=True, invited_by=actor
        ).exists()
    )


# --- Targets (access helpers) ---------------------------------------------------------------


def transfer_teams(actor: User) -> QuerySet[Team]:
    """Teams an actor may transfer to: every team (transfers are how work reaches the people
    who can do it; the receiving team's routing decides who takes it)."""
    return Team.objects.order_by("name", "pk")


def access_transfer_team(actor: User, team_id: object) -> Team:
    team = transfer_teams(actor).filter(pk=parse_id(team_id, "team")).first()
    if team is None:
        raise NotFound("No such team.")
    return team


def transfer_agents(actor: User) -> QuerySet[User]:
    """Agents an actor may transfer to: active staff who are members of a team the actor may
    transfer to and can take work (have an agent profile)."""
    return (
        User.objects.filter(
            is_active=True, agent__isnull=False, teams__in=transfer_teams(actor).values("pk")
        )
        .distinct()
        .order_by("display_name", "username", "pk")
    )


def access_transfer_agent(actor: User, user_id: object) -> User:
    agent = transfer_agents(actor).filter(pk=parse_id(user_id, "agent")).first()
    if agent is None:
        raise NotFound("No such agent.")
    return agent


def reassign_candidates(conversation: Conversation) -> QuerySet[User]:
    """Members of the conversation's team (a supervisor's "Reassign to" list)."""
    return (
        User.objects.filter(is_active=True, teams=conversation.team_id, agent__isnull=False)
        .distinct()
        .order_by("display_name", "username", "pk")
    )


def access_team_member(actor: User, conversation: Conversation, user_id: object) -> User:
    agent = reassign_candidates(conversation).filter(pk=parse_id(user_id, "agent")).first()
    if agent is None:
        raise NotFound(f"No such agent in team {conversation.team.name}.")
    return agent


def expert_candidates(conversation: Conversation) -> QuerySet[User]:
    """Staff who may be pulled into the conversation now: available for expert requests,
    signed in (not offline), neither its assignee nor already taking part."""
    return (
        User.objects.filter(is_active=True, agent__expert_available=True)
        .exclude(agent__presence=Presence.OFFLINE)
        .exclude(pk=conversation.assignee_id or 0)
        .exclude(
            pk__in=ConversationParticipant.objects.filter(
                conversation=conversation, left_at__isnull=True
            ).values("user_id")
        )
        .select_related("agent")
        .order_by("display_name", "username", "pk")
    )


def access_expert(actor: User, conversation: Conversation, user_id: object) -> User:
    expert = expert_candidates(conversation).filter(pk=parse_id(user_id, "expert")).first()
    if expert is None:
        raise NotFound("No such expert is available for this conversation.")
    return expert


def access_participant(actor: User, conversation: Conversation, user_id: object) -> User:
    """An expert taking part in the conversation now (NotFound otherwise)."""
    found = (
        ConversationParticipant.objects.filter(
            conversation=conversation, user_id=parse_id(user_id, "expert"), left_at__isnull=True
        )
        .select_related("user")
        .first()
    )
    if found is None:
        raise NotFound("No such expert in this conversation.")
    return found.user


def best_expert(
    conversation: Conversation, skill: str, *, exclude: int | None = None
) -> User | None:
    """The best available expert in `skill`: highest proficiency, then the one helping in the
    fewest conversations right now, then the longest-standing account."""
    candidates = [
        user
        for user in expert_candidates(conversation).exclude(pk=exclude or 0)
        if int((user.agent.skills or {}).get(skill, 0) or 0) > 0
    ]
    if not candidates:
        return None
    busy: dict[int, int] = {}
    for user_id in ConversationParticipant.objects.filter(
        user_id__in=[u.pk for u in candidates], left_at__isnull=True
    ).values_list("user_id", flat=True):
        busy[user_id] = busy.get(user_id, 0) + 1
    return min(
        candidates,
        key=lambda u: (-int(u.agent.skills.get(skill, 0)), busy.get(u.pk, 0), u.pk),
    )


def clean_skill(skill: str) -> str:
    skill = (skill or "").strip()
    if not skill:
        raise InvalidInput("Choose a skill.")
    if len(skill) > MAX_SKILL or skill not in known_skills():
        raise NotFound(f"Nobody has the skill {skill[:MAX_SKILL]!r}.")
    return skill


# --- Transfers --------------------------------------------------------------------------------


def _team_of(agent: User, conversation: Conversation) -> Team:
    """The team a conversation transferred to `agent` belongs to: its own team if they are a
    member, else their first team (by name)."""
    teams = list(agent.teams.order_by("name", "pk"))
    for team in teams:
        if team.pk == conversation.team_id:
            return team
    if not teams:
        raise Conflict(f"{agent.name} is not in any team.")
    return teams[0]


def _start_step(policy: engine.Policy, kind: str) -> int:
    steps = policy.steps or engine.DEFAULT_POLICY.steps
    for index, step in enumerate(steps):
        if step.kind == kind:
            return index
    for index, step in enumerate(steps):
        if step.kind == engine.HOME_TEAM:
            return index
    return 0


def do_transfer_conversation(
    conversation: Conversation,
    *,
    actor: User,
    to_agent: User | None = None,
    to_team: Team | None = None,
    to_skill: str | None = None,
    note: str,
    now: datetime | None = None,
) -> Conversation:
    """Transfer an open conversation to an agent, a team or a skill queue, with a note for
    whoever takes it next (stored as an internal note).

    - to an agent: they get it now if they are available with free capacity; otherwise it waits
      for them (the policy's last-agent step and its timeout, while they are online) and then
      falls back to their team;
    - to a team: it enters that team's queue (the conversation moves to the team);
    - to a skill: it is routed again needing that skill (home team first, then overflow).

    It keeps its original enqueue time, so the customer does not lose their place. The
    previous assignee (if any) is unassigned. Locks the conversation, then its work item; the
    claim that follows locks agent profile → conversation like every claim.
    Records `transferred` (from, to, reason) and emits assignment.changed (old and new team,
    previous assignee) and conversation.updated / assignment.changed from routing.
    """
    if sum(target is not None for target in (to_agent, to_team, to_skill)) != 1:
        raise InvalidInput("Transfer to one agent, one team or one skill.")
    note = (note or "").strip()
    if not note:
        raise InvalidInput("Write a transfer note for whoever takes it next.")
    if not can_transfer(actor, conversation):
        raise Forbidden("Only the assigned agent or a supervisor can transfer this conversation.")
    skill = clean_skill(to_skill) if to_skill is not None else None
    now = now or timezone.now()
    if to_agent is not None:
        if to_agent.pk == conversation.assignee_id:
            raise Conflict(f"{to_agent.name} already has this conversation.")
        team = _team_of(to_agent, conversation)
        target: dict[str, Any] = {"kind": TO_AGENT, "agent_id": to_agent.pk, "label": to_agent.name}
    elif to_team is not None:
        team = to_team
        target = {"kind": TO_TEAM, "team_id": team.pk, "label": f"team {team.name}"}
    else:
        team = conversation.team
        target = {"kind": TO_SKILL, "skill": skill, "label": f"the {skill} queue"}
    target.setdefault("team_id", team.pk)

    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        if conv.status != Status.OPEN:
            raise Conflict("Only open conversations can be transferred.")
        previous_agent_id, previous_team_id = conv.assignee_id, conv.team_id
        live = WorkItem.objects.filter(conversation=conv, state__in=LIVE_STATES).first()
        if live is not None:
            enqueued_at = live.enqueued_at
        else:
            # No live item (assigned outside routing): the latest contact's arrival, if any.
            enqueued_at = (
                WorkItem.objects.filter(conversation=conv)
                .order_by("-pk")
                .values_list("enqueued_at", flat=True)
                .first()
            ) or now
        conv.assignee = None
        conv.team = team
        conv.waiting_since = enqueued_at
        conv.updated_at = now
        conv.save(update_fields=["assignee", "team", "waiting_since", "updated_at"])
        row = live or enqueue_conversation(conv, now=enqueued_at)
        policy = policy_by_id(row.policy_id, conv.inbox_id)
        start = _start_step(policy, engine.LAST_AGENT if to_agent else engine.HOME_TEAM)
        steps = policy.steps or engine.DEFAULT_POLICY.steps
        required = dict(row.required_skills or {})
        if skill:
            required[skill] = max(int(required.get(skill, 0)), 1)
        # The transfer is explicit: it wins over any concurrent placement (whose conditional
        # update on the old version then loses).
        WorkItem.objects.filter(pk=row.pk, state__in=LIVE_STATES).update(
            state=WorkState.QUEUED,
            assignee=None,
            assigned_at=None,
            home_team=team,
            last_agent=to_agent,
            required_skills=required,
            opt_out_of_team=False,
            step_index=start,
            step_kind=steps[start].kind,
            step_entered_at=now,
            next_check_at=now,
            promised_at=None,
            reason=f"transferred to {target['label']}"[:300],
            version=F("version") + 1,
        )
        QueueEntry.objects.filter(work_item=row).delete()
        if live is not None:
            # A transfer of the contact; into another team's queue a new contact is offered
            # there (analytics' facts).
            analytics.record_transferred(
                conversation_id=conv.pk,
                work_item_id=row.pk,
                team_id=team.pk,
                queue=row.channel_kind,
                channel=conv.channel,
                threshold_seconds=queue_threshold(row.channel_kind),
                at=now,
            )
        message = do_add_note(conv, f"Transfer to {target['label']}: {note}", actor=actor)
        previous_agent = (
            User.objects.filter(pk=previous_agent_id).first() if previous_agent_id else None
        )
        previous_team = Team.objects.filter(pk=previous_team_id).first()
        source = {
            "agent_id": previous_agent_id,
            "agent": previous_agent.name if previous_agent else "",
            "team_id": previous_team_id,
            "team": previous_team.name if previous_team else "",
        }
        _record(
            conv,
            TimelineKind.TRANSFERRED,
            actor=actor,
            **{
                "from": source,
                "to": target,
                "reason": note,
                "note_id": message.pk,
                "enqueued_at": enqueued_at.isoformat(),
            },
        )
        fresh = Conversation.objects.select_related("team", "customer").get(pk=conv.pk)
        _emit_assignment(fresh, previous_agent_id, previous_team_id)

    # Routing, exactly as for any waiting conversation (capacity and races under its locks).
    if to_agent is not None:
        outcome = _safe_claim(
            conv.pk,
            to_agent.pk,
            reason=f"transferred by {actor.name}",
            now=now,
            transferred_by=actor.pk,
        )
        if outcome == ASSIGNED:
            conversation.refresh_from_db()
            return conversation
    with transaction.atomic():
        _route_after_transfer(conv.pk, exclude=previous_agent_id, now=now)
    conversation.refresh_from_db()
    return conversation


def _record(conversation: Conversation, kind: str, *, actor: User | None, **data: Any) -> None:
    record(conversation, kind, actor=actor, **data)


def _emit_assignment(
    conversation: Conversation, previous_agent_id: int | None, previous_team_id: int | None
) -> None:
    """assignment.changed to the conversation's recipients plus whoever just lost it (the
    previous assignee and, after a move, the previous team)."""
    staff = set(conversation_recipients(conversation).staff)
    if previous_agent_id:
        staff.add(user_group(previous_agent_id))
    if previous_team_id:
        staff.add(team_group(previous_team_id))
    send_event_on_commit(
        Event(EventType.ASSIGNMENT_CHANGED, staff=present_conversation(conversation)),
        Recipients(staff=frozenset(staff)),
    )


def _route_after_transfer(conversation_id: int, *, exclude: int | None, now: datetime) -> None:
    """One routing decision for a transferred conversation: routing.actions' decision, except
    that the agent who just gave it away is not offered it back at once."""
    conv = Conversation.objects.select_related("customer", "team").get(pk=conversation_id)
    if conv.assignee_id or conv.status != Status.OPEN:
        return
    row = WorkItem.objects.filter(conversation=conv, state=WorkState.QUEUED).first()
    if row is None:
        return
    policy = policy_by_id(row.policy_id, conv.inbox_id)
    item = item_snapshot(row)
    ctx = load_context(item, policy, now)
    decision = engine.decide(item, policy, ctx)
    placement = decision.placement
    step = f"{placement.step_index + 1} of {placement.step_count}"
    eligible = [agent_id for agent_id in decision.eligible if agent_id != exclude]
    for agent_id in eligible[:MAX_CLAIM_TRIES]:
        reason = "transferred; " + engine.assignment_reason(
            ctx.agents[agent_id], item, placement, ctx
        )
        outcome = _safe_claim(
            conv.pk, agent_id, reason=reason, now=now, step=step, route=placement.reason
        )
        if outcome in (ASSIGNED, TAKEN):
            return
    apply_placement(row, conv, item, placement, policy, ctx, now)


# --- Supervisors ------------------------------------------------------------------------------


def do_reassign_conversation(
    conversation: Conversation, agent: User, *, actor: User
) -> Conversation:
    """A supervisor (of the conversation's team) or an admin gives the conversation to a
    member of its team, whatever their presence and load (an explicit override). Forbidden for
    anyone else. Locks agent profile, then conversation (do_assign_conversation); records
    `assigned` with the previous assignee; emits assignment.changed."""
    if not can_supervise(actor, conversation):
        raise Forbidden("Only supervisors and admins can reassign conversations.")
    if conversation.status == Status.RESOLVED:
        raise Conflict("This conversation is resolved; reopen it first.")
    if agent.pk == conversation.assignee_id:
        raise Conflict(f"{agent.name} already has this conversation.")
    previous = conversation.assignee_id
    result = do_assign_conversation(
        conversation, agent, actor=actor, reason=f"reassigned by {actor.name}"
    )
    if previous:
        # The previous assignee hears it even if they are not in the team's group.
        send_event_on_commit(
            Event(EventType.ASSIGNMENT_CHANGED, staff=_presented(result)),
            Recipients(staff=frozenset({user_group(previous)})),
        )
    return result


def _presented(conversation: Conversation) -> dict[str, Any]:
    return present_conversation(
        Conversation.objects.select_related("team", "customer", "assignee").get(pk=conversation.pk)
    )


# --- Experts ----------------------------------------------------------------------------------


def do_invite_expert(
    conversation: Conversation,
    *,
    actor: User,
    expert: User | None = None,
    skill: str | None = None,
) -> ConversationParticipant:
    """Pull an expert into the conversation as a second participant (the assignee keeps it):
    the person named, or the best available expert in `skill`. Only staff available for
    expert requests and signed in can be invited. The expert may then read and write in the
    conversation until they leave.

    Locks the conversation row; one active participation per person (unique constraint).
    Adds an internal note saying who joined; emits expert.invited to the expert's own
    sessions and conversation.updated to the conversation's recipients (now including them).
    """
    if (expert is None) == (skill is None):
        raise InvalidInput("Invite an expert by name or by skill.")
    if conversation.status == Status.RESOLVED:
        raise Conflict("This conversation is resolved; reopen it first.")
    if skill is not None:
        skill = clean_skill(skill)
        expert = best_expert(conversation, skill, exclude=actor.pk)
        if expert is None:
            raise Conflict(f"No expert in {skill} is available right now.")
    assert expert is not None
    if expert.pk == actor.pk:
        raise Conflict("You are already in this conversation.")
    reason = f"skill {skill}" if skill else "by name"
    with transaction.atomic():
        conv = lock_conversation(conversation.pk)
        try:
            with transaction.atomic():
                participant = ConversationParticipant.objects.create(
                    conversation=conv,
                    user=expert,
                    role=ParticipantRole.EXPERT,
                    invited_by=actor,
                    reason=reason,
                )
        except IntegrityError as exc:
            raise Conflict(f"{expert.name} is already in this conversation.") from exc
        # Under the lock: from now on a message or reply here reads who takes part.
        Conversation.objects.filter(pk=conv.pk).update(experts_invited_at=participant.joined_at)
        fresh = Conversation.objects.select_related("team", "customer", "assignee").get(pk=conv.pk)
        why = f" for {skill}" if skill else ""
        do_add_note(fresh, f"Invited {expert.name} to join as an expert{why}.", actor=actor)

        send_event_on_commit(
            Event(
                EventType.EXPERT_INVITED,
                staff={
                    "conversation": present_conversation(fresh),
                    "expert": {"id": expert.pk, "name": expert.name},
                    "invited_by": {"id": actor.pk, "name": actor.name},
                    "reason": reason,
                },
            ),
            Recipients(staff=frozenset({user_group(expert.pk)})),
        )
        emit_conversation(fresh, EventType.CONVERSATION_UPDATED)
    return participant


def do_leave_conversation(
    conversation: Conversation, *, actor: User, expert: User | None = None
) -> ConversationParticipant:
    """An expert leaves the conversation (or the assignee, whoever invited them, a supervisor
    or an admin takes them out): their participation ends and with it their access. Adds an
    internal note; emits conversation.updated to the conversation's recipients and the expert."""
    expert = expert or actor
    participant = ConversationParticipant.objects.filter(
        conversation=conversation, user=expert, left_at__isnull=True
    ).first()
    if participant is None:
        raise NotFound(f"{expert.name} is not taking part in this conversation.")
    if not can_remove_expert(actor, conversation, expert):
        raise Forbidden("Only the expert, the assigned agent or a supervisor can do this.")
    now = timezone.now()
    with transaction.atomic():
        left = ConversationParticipant.objects.filter(
            pk=participant.pk, left_at__isnull=True
        ).update(left_at=now)
        if not left:
            raise NotFound(f"{expert.name} is not taking part in this conversation.")
        participant.left_at = now
        fresh = Conversation.objects.select_related("team", "customer", "assignee").get(
            pk=conversation.pk
        )
        text = (
            "Left the conversation."
            if actor.pk == expert.pk
            else f"Asked {expert.name} to leave the conversation."
        )
        do_add_note(fresh, text, actor=actor)
        emit_conversation(fresh, EventType.CONVERSATION_UPDATED)

        send_event_on_commit(
            Event(EventType.CONVERSATION_UPDATED, staff=present_conversation(fresh)),
            Recipients(staff=frozenset({user_group(expert.pk)})),
        )
    return participant


# --- Customer preferences from the desk -------------------------------------------------------


def routing_preference_of(customer: Customer) -> CustomerRoutingPreference:
    """The customer's stored choices (defaults when none are stored; nothing is written)."""
    found = CustomerRoutingPreference.objects.filter(customer=customer).first()
    return found or CustomerRoutingPreference(customer=customer)


def do_set_preferences_from_desk(
    conversation: Conversation, *, actor: User, opt_out_of_team: bool, opt_out_of_bots: bool
) -> CustomerRoutingPreference:
    """Staff change the customer's routing choices on their behalf: the assigned agent,
    supervisors and admins (Forbidden otherwise)."""
    if not can_set_preferences(actor, conversation):
        raise Forbidden(
            "Only the assigned agent or a supervisor can change the customer's routing choices."
        )
    return do_set_routing_preference(
        conversation.customer,
        opt_out_of_team=opt_out_of_team,
        opt_out_of_bots=opt_out_of_bots,
        actor=actor,
    )
