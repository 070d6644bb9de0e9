from django.apps import AppConfig
from django.core import checks

from . import ice


class CallsConfig(AppConfig):
    name = "teamline.calls"
    label = "calls"
    verbose_name = "Calls"

    def ready(self) -> None:
        checks.register(ice.check_ice_servers, "teamline")
        # Deferred: models are not loaded before ready() (ADR 0005).
        from teamline.connectors.voice import provide_step_flow
        from teamline.core.periodic import register_periodic

        from . import tasks
        from .control import provide_control
        from .dialout import STEP_PREFIX, DialoutFlow
        from .models import CallMedium
        from .monitor import MONITOR_PREFIX, MonitorFlow
        from .phone import PhoneControl

        # A call ringing longer than TEAMLINE_CALL_RING_SECONDS is taken from its agent on the
        # next tick (calls.actions.do_ring_timeouts).
        register_periodic("call_ring_timeouts", tasks.ring_timeouts)
        provide_control(CallMedium.PHONE, PhoneControl())
        # The supervisors' monitor legs are answered by this app's flow.
        provide_step_flow(MONITOR_PREFIX, MonitorFlow())

        # Models load before ready(): the recording handler (it imports them) is provided here.
        from teamline.connectors.voice import provide_recording_handler

        from .recording import RecordingCallbacks

        provide_recording_handler(RecordingCallbacks())
        # The legs of outbound calls (callbacks, booked calls) answer under dial/.
        provide_step_flow(STEP_PREFIX, DialoutFlow())
