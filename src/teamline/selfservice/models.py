"""Phone calls as the IVR (selfservice.ivr) sees them: who called, in which language, where the
call is in the menu and the queue, and what was answered to each step (for provider retries)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class VoiceCall(models.Model):
    """One inbound call on a voice inbox, from the provider's first webhook to its end.

    Unique on (inbox, call_sid): the first webhook creates it, every later step and status
    callback finds it. `work_item` is the routing item the call became when the caller asked
    for their team (0) or a callback (9); `abandoned_after_seconds` is set when the caller hung
    up while that item was still waiting."""

    inbox = models.ForeignKey(
        "conversations.Inbox", on_delete=models.CASCADE, related_name="voice_calls"
    )
    call_sid = models.CharField(max_length=64)
    caller = models.CharField(max_length=32)  # E.164
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="voice_calls"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="voice_calls",
    )
    work_item = models.ForeignKey(
        "routing.WorkItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(max_length=16)  # a Django language code: en, nb, zh-hans
    status = models.CharField(max_length=16, default="in-progress")  # the provider's CallStatus
    # The conversation's channel kind before the call made it a voice item (given back when the
    # caller hangs up in the queue).
    original_channel_kind = models.CharField(max_length=16, blank=True)
    callback_requested = models.BooleanField(default=False)
    queued_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    abandoned_after_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["inbox", "call_sid"], name="voice_call_unique_sid")
        ]

    def __str__(self) -> str:
        return f"call {self.call_sid} from {self.caller}"


class VoiceCallStep(models.Model):
    """The script the IVR answered to one step of one call (unique on call + step): a provider
    retry of the step gets the same answer and repeats none of its effects."""

    call = models.ForeignKey(VoiceCall, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=64)
    script = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["call", "step"], name="voice_call_step_unique")
        ]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.call.call_sid}:{self.step}"


class EpisodeKind(models.TextChoices):
    """What answered the customer without a person."""

    ARTICLE = "article", "Article from a suggestion"
    BOT = "bot", "Bot flow"
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    IVR = "ivr", "Phone self-service"


class SelfServiceEpisode(models.Model):
    """One time self-service answered a customer: an article opened from a suggestion, a bot
    flow completed, an SMS keyword answered, a balance read out by the IVR.

    It counts as *deflected* unless a human contact on the same subject follows within 24 h;
    that is judged when the figures are read (selfservice/deflection.py), from routing's work
    items, so nothing has to remember to mark an episode. `subject` names what it was about in
    the same words everywhere: an intent (`balance`, `data_left`, `outage`, …) or
    `article:<id>`. `helpful` is the customer's own answer to "Did this answer your
    question?" (None: not asked or not answered)."""

    kind = models.CharField(max_length=16, choices=EpisodeKind.choices)
    channel = models.CharField(max_length=16)  # a ChannelKind value, or "help" (help center)
    subject = models.CharField(max_length=64)
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="self_service_episodes",
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="self_service_episodes",
    )
    helpful = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # created_at + 24 h: until when a human contact counts against it. Stored (by
    # do_record_episode) so the judgment compares columns: SQLite has no native datetime
    # arithmetic, and computing it per contact examined made the figures ~10x slower.
    window_ends_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["customer", "created_at"], name="episode_customer_time"),
            models.Index(fields=["created_at"], name="episode_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} on {self.channel}"


class ContactSubject(models.Model):
    """What a human contact (a routing work item) is about, when something knows: the bot that
    handed the customer over names the intent it was working on; a classifier may tag a
    conversation later. A contact with a subject counts against the customer's earlier
    episodes of that subject only (and against article episodes, which name no intent); one
    without counts against all of them (selfservice/deflection.py). One per work item."""

    work_item = models.OneToOneField(
        "routing.WorkItem", on_delete=models.CASCADE, related_name="self_service_subject"
    )
    subject = models.CharField(max_length=64)
    source = models.CharField(max_length=16)  # who said so: "bot", "classifier", "agent"
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"work item #{self.work_item_id} is about {self.subject}"


class BotState(models.TextChoices):
    ACTIVE = "active", "The bot holds the conversation"
    HANDED_OVER = "handed_over", "Handed over to the team"
    ENDED = "ended", "Ended (a person or a call took over)"


class BotSession(models.Model):
    """The bot holding one conversation, from the customer's first message it took to the
    handoff (or until a person or a call took over). At most one active session per
    conversation (a conditional unique constraint; the hook that opens one runs under the
    conversation's row lock). `failed_turns` counts the turns in a row the bot did not
    understand (two hand over); `findings` is what the agent is told at the handoff: the
    intents asked, what was answered, the verification state."""

    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="bot_sessions"
    )
    state = models.CharField(max_length=16, choices=BotState.choices, default=BotState.ACTIVE)
    language = models.CharField(max_length=16, blank=True)
    failed_turns = models.PositiveSmallIntegerField(default=0)
    findings = models.JSONField(default=dict, blank=True)
    handoff_reason = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(state="active"),
                name="bot_session_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"bot on conversation {self.conversation_id} ({self.state})"


class SelfServiceTurn(models.Model):
    """The answer self-service gave to one customer message (the bot's turn or an SMS
    keyword's answer), unique on the message: a retried task answers nothing twice."""

    message = models.OneToOneField(
        "conversations.Message", on_delete=models.CASCADE, related_name="self_service_turn"
    )
    session = models.ForeignKey(
        BotSession, null=True, blank=True, on_delete=models.CASCADE, related_name="turns"
    )
    intent = models.CharField(max_length=32, blank=True)
    outcome = models.CharField(max_length=32)  # answered, not_understood, handed_over, …
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.outcome} {self.intent} for message {self.message_id}"
