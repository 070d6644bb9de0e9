"""What a call's state change does to its media, per medium.

The calls app decides states (calls/actions.py); a `CallControl` carries them out where the
media is: the phone control (calls/phone.py, provided when it is written) talks to the voice
provider's REST API; browser calls (WebRTC) need nothing from the server — the browsers
negotiate and hold their own media after the `call.updated` event and the signalling over the
websockets — so their control is `BrowserControl`, which does nothing on purpose.

A control runs inside the action's transaction after the row moved; raising
(VoiceProviderError, InvalidInput) rolls the move back."""

from __future__ import annotations

from typing import Protocol

from .models import Call, CallMedium


class CallControl(Protocol):
    def accepted(self, call: Call) -> None:
        """The agent accepted: connect them to the customer."""

    def released(self, call: Call) -> None:
        """The agent left a call that goes on waiting (transferred, or their leg dropped): the
        customer stays on the line, on hold, for the next agent."""

    def held(self, call: Call, *, held: bool) -> None:
        """Put the customer on hold (they hear music, are not heard), or take them back."""

    def muted(self, call: Call, *, muted: bool) -> None:
        """Mute the agent's microphone for the customer, or unmute."""

    def hang_up(self, call: Call) -> None:
        """End every leg of the call."""


class BrowserControl:
    """Browser calls: the two browsers hold, mute and hang up their own media."""

    def accepted(self, call: Call) -> None:
        return None

    def released(self, call: Call) -> None:
        return None

    def held(self, call: Call, *, held: bool) -> None:
        return None

    def muted(self, call: Call, *, muted: bool) -> None:
        return None

    def hang_up(self, call: Call) -> None:
        return None


_controls: dict[str, CallControl] = {
    CallMedium.AUDIO: BrowserControl(),
    CallMedium.VIDEO: BrowserControl(),
}


def provide_control(medium: str, control: CallControl) -> None:
    """Register the control of a medium (the phone's, at start-up)."""
    _controls[medium] = control


def control_for(call: Call) -> CallControl:
    try:
        return _controls[call.medium]
    except KeyError:
        raise LookupError(f"no call control for medium {call.medium!r}") from None
