"""Live calls between a customer and an agent: a phone call through the voice provider, or a
browser call (audio or video, WebRTC) from the widget. A call belongs to the customer's one
conversation and waits as that conversation's routing work item of channel kind `voice`; the
call is the part routing does not know: who is on the line, in which state, through which
provider legs, muted, held, recorded.

States (`CallState`), one way only:

    waiting ──accept──▶ connecting ──bridged──▶ active ◀──▶ held
       │                    │                     │
       └──────── ended ◀────┴─────────────────────┘

`waiting`: the customer is on the line, in line (the IVR's hold loop, or the widget's
"calling…"); an agent the routing engine assigned the conversation to sees it ringing.
`connecting`: the agent accepted; the provider bridges the legs (phone) or the browsers
exchange offer and answer (WebRTC). `active`/`held`: talking / customer on hold. `ended`:
with `end_reason` (hung up, rejected by everyone, no answer, failed…).

Transitions are conditional UPDATEs on (state, version) in calls/actions.py, so a provider
retry, a double click or two agents never move a call twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CallMedium(models.TextChoices):
    PHONE = "phone", "Phone"
    AUDIO = "audio", "Browser audio"
    VIDEO = "video", "Browser video"


class CallDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class CallState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    CONNECTING = "connecting", "Connecting"
    ACTIVE = "active", "Active"
    HELD = "held", "On hold"
    ENDED = "ended", "Ended"


class RecordingState(models.TextChoices):
    """Whether the provider is recording the call now. `paused` stays paused until the agent
    resumes it or the call ends (never by itself: a customer may still be reading a card
    number); `stopped` once the call ended or the provider finished the file."""

    OFF = "off", "Not recorded"
    RECORDING = "recording", "Recording"
    PAUSED = "paused", "Recording paused"
    STOPPED = "stopped", "Recording stopped"


LIVE_CALL_STATES = (CallState.WAITING, CallState.CONNECTING, CallState.ACTIVE, CallState.HELD)


class Call(models.Model):
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="calls"
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="calls"
    )
    work_item = models.ForeignKey(
        "routing.WorkItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The voice inbox of a phone call (its provider account); None for browser calls.
    inbox = models.ForeignKey(
        "conversations.Inbox",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    medium = models.CharField(max_length=8, choices=CallMedium.choices)
    direction = models.CharField(
        max_length=8, choices=CallDirection.choices, default=CallDirection.INBOUND
    )
    state = models.CharField(max_length=12, choices=CallState.choices, default=CallState.WAITING)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calls",
    )
    # Phone: the customer's leg (the provider's CallSid), the agent's leg, and what the agent's
    # leg dials ("+4790000000" or "client:<identity>").
    provider_call_sid = models.CharField(max_length=64, blank=True)
    agent_call_sid = models.CharField(max_length=64, blank=True)
    agent_endpoint = models.CharField(max_length=80, blank=True)
    # Phone: the provider's conference room of the call (its SID, from the room's first event)
    # and when each leg of the current bridge joined it; both joined = connected
    # (calls/phone.py). A new agent leg starts with agent_joined_at empty again.
    conference_sid = models.CharField(max_length=64, blank=True)
    customer_joined_at = models.DateTimeField(null=True, blank=True)
    agent_joined_at = models.DateTimeField(null=True, blank=True)
    muted = models.BooleanField(default=False)
    # A browser call that turned a waiting conversation of another channel kind (a chat in
    # line) into a call: the kind it goes back to if the customer gives up waiting. Empty when
    # the call started the conversation.
    original_channel_kind = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the call entered its current state (supervisors' "time in state").
    state_changed_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    version = models.PositiveIntegerField(default=0)
    # Recording (phone calls on an inbox with config "record": true; calls/recording.py).
    # Changed by conditional updates on recording_state, never through `version`: pausing the
    # recording does not make the agent's view of the call stale for hold or mute.
    recording_state = models.CharField(
        max_length=10, choices=RecordingState.choices, default=RecordingState.OFF
    )
    recording_sid = models.CharField(max_length=64, blank=True)
    recording_pauses = models.PositiveSmallIntegerField(default=0)
    # The provider's last recording status callback ("completed", "absent", …): each status is
    # acted on once.
    recording_status = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "agent"], name="call_live_by_agent"),
            models.Index(fields=["conversation", "state"], name="call_by_conversation"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["inbox", "provider_call_sid"],
                condition=~models.Q(provider_call_sid=""),
                name="call_unique_provider_sid_per_inbox",
            )
        ]

    def __str__(self) -> str:
        return f"{self.medium} call #{self.pk} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_CALL_STATES

    @property
    def conference_name(self) -> str:
        """The provider conference room both legs of a phone call join (unique per call)."""
        return f"teamline-call-{self.pk}"


class MonitorMode(models.TextChoices):
    LISTEN = "listen", "Listening"
    COACH = "coach", "Coaching"


class MonitorState(models.TextChoices):
    DIALING = "dialing", "Dialing the supervisor"
    LISTENING = "listening", "In the call"
    ENDED = "ended", "Ended"


LIVE_MONITOR_STATES = (MonitorState.DIALING, MonitorState.LISTENING)


class CallMonitor(models.Model):
    """A supervisor's leg into a phone call's conference room: placed by Teamline to the
    supervisor's endpoint, it joins `teamline-call-<pk>` muted (listen: hears both sides, is
    heard by nobody) or as the agent's coach (heard by the agent only). Browser calls have no
    room on the server and cannot be monitored (calls/monitor.py).

    One live leg per supervisor and call (unique while not ended): a double click or a retried
    request places one call only. States move by conditional UPDATEs (dialing → listening →
    ended), so the provider's retried webhooks change nothing."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="monitors")
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="call_monitors"
    )
    mode = models.CharField(max_length=8, choices=MonitorMode.choices, default=MonitorMode.LISTEN)
    state = models.CharField(
        max_length=12, choices=MonitorState.choices, default=MonitorState.DIALING
    )
    endpoint = models.CharField(max_length=80)
    provider_call_sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["call", "supervisor"],
                condition=~models.Q(state="ended"),
                name="call_monitor_one_live_leg",
            )
        ]
        indexes = [models.Index(fields=["call", "state"], name="call_monitor_by_call")]

    def __str__(self) -> str:
        return f"monitor #{self.pk} of call #{self.call_id} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_MONITOR_STATES
