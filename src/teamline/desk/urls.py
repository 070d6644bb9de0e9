from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from django.views.i18n import JavaScriptCatalog

from teamline.accounts.views import SignInView

from . import (
    call_views,
    canned_views,
    kb_views,
    label_views,
    outage_views,
    privacy_views,
    profile_views,
    recording_views,
    report_views,
    routing_views,
    scheduling_views,
    search_views,
    session_views,
    staffing_views,
    stepup_views,
    suggestion_views,
    supervise_views,
    supervision_views,
    template_views,
    views,
    wallboard_views,
    webrtc_views,
    wellbeing_views,
)

app_name = "desk"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    # allauth's sign-in (accounts/views.py) in the desk's look (templates/account/login.html).
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("presence/", views.presence, name="presence"),
    path("profile/shortcuts/", profile_views.profile_shortcuts, name="profile_shortcuts"),
    path("search/", search_views.search_page, name="search"),
    path("conversations/<int:conversation_id>/", views.conversation, name="conversation"),
    path("conversations/<int:conversation_id>/reply/", views.reply, name="reply"),
    path("conversations/<int:conversation_id>/note/", views.note, name="note"),
    path("conversations/<int:conversation_id>/status/", views.change_status, name="status"),
    path(
        "conversations/<int:conversation_id>/priority/",
        label_views.set_priority,
        name="priority",
    ),
    path("conversations/<int:conversation_id>/labels/", label_views.add_label, name="add_label"),
    path(
        "conversations/<int:conversation_id>/labels/<int:label_id>/remove/",
        label_views.remove_label,
        name="remove_label",
    ),
    path(
        "conversations/<int:conversation_id>/canned-replies/",
        canned_views.canned_replies,
        name="canned_replies",
    ),
    path("conversations/<int:conversation_id>/step-up/", stepup_views.step_up, name="step_up"),
    path(
        "conversations/<int:conversation_id>/templates/",
        template_views.templates,
        name="templates",
    ),
    path(
        "conversations/<int:conversation_id>/templates/send/",
        template_views.send_template,
        name="send_template",
    ),
    path(
        "conversations/<int:conversation_id>/templates/sync/",
        template_views.sync_templates,
        name="sync_templates",
    ),
    path(
        "conversations/<int:conversation_id>/suggestions/used/",
        suggestion_views.suggestion_used,
        name="suggestion_used",
    ),
    path("attachments/<int:attachment_id>/", views.attachment, name="attachment"),
    path(
        "customers/<int:customer_id>/merge/<int:source_id>/",
        views.merge_customer,
        name="merge_customer",
    ),
    path("customers/<int:customer_id>/bots/", views.customer_bots, name="customer_bots"),
    path(
        "customers/<int:customer_id>/attributes/",
        views.customer_attribute,
        name="customer_attribute",
    ),
    path(
        "customers/<int:customer_id>/language/",
        views.customer_language,
        name="customer_language",
    ),
    path("customers/<int:customer_id>/consent/", views.customer_consent, name="customer_consent"),
    path(
        "customers/<int:customer_id>/reveal/",
        privacy_views.reveal_customer_field,
        name="reveal_customer_field",
    ),
    path(
        "customers/<int:customer_id>/export/", privacy_views.export_customer, name="export_customer"
    ),
    path("customers/<int:customer_id>/erase/", privacy_views.erase_customer, name="erase_customer"),
    path(
        "customers/<int:customer_id>/erase/status/",
        privacy_views.erasure_status,
        name="erasure_status",
    ),
    path("queue/", routing_views.queue, name="queue"),
    path("outages/", outage_views.outages, name="outages"),
    path("staffing/", staffing_views.staffing, name="staffing"),
    # Wellbeing (desk/wellbeing_views.py): what is measured about me, suggestions, alerts.
    path("wellbeing/", wellbeing_views.wellbeing, name="wellbeing"),
    path("wellbeing/notice/", wellbeing_views.notice, name="wellbeing_notice"),
    path("wellbeing/typing/", wellbeing_views.typing, name="wellbeing_typing"),
    path(
        "wellbeing/suggestions/<int:alert_id>/dismiss/",
        wellbeing_views.dismiss,
        name="wellbeing_dismiss",
    ),
    path(
        "wellbeing/alerts/<int:alert_id>/acknowledge/",
        wellbeing_views.acknowledge,
        name="wellbeing_acknowledge",
    ),
    path("reports/", report_views.reports, name="reports"),
    path("reports/report.csv", report_views.reports_csv, name="reports_csv"),
    path("reports/schedules/", report_views.create_schedule, name="report_schedules"),
    path(
        "reports/schedules/<int:schedule_id>/pause/",
        report_views.pause_schedule,
        name="pause_report_schedule",
    ),
    path(
        "reports/schedules/<int:schedule_id>/delete/",
        report_views.delete_schedule,
        name="delete_report_schedule",
    ),
    path("outages/declare/", outage_views.declare_outage, name="declare_outage"),
    path("outages/<int:outage_id>/end/", outage_views.end_outage, name="end_outage"),
    path(
        "outages/suspected/<int:suspicion_id>/",
        outage_views.decide_suspicion,
        name="decide_suspicion",
    ),
    path("wallboard/", wallboard_views.wallboard, name="wallboard"),
    path("wallboard/screens/", wallboard_views.screens, name="wallboard_screens"),
    path(
        "wallboard/screens/<int:screen_id>/revoke/",
        wallboard_views.revoke_screen,
        name="revoke_wallboard_screen",
    ),
    # A TV screen's wallboard: the token is the key (no staff session).
    path("tv/<str:token>/", wallboard_views.tv, name="wallboard_tv"),
    path("calls/live/", supervision_views.live_calls, name="live_calls"),
    path("supervise/", supervise_views.supervise, name="supervise"),
    path("supervise/<int:conversation_id>/", supervise_views.watch, name="watch"),
    path("supervise/<int:conversation_id>/whisper/", supervise_views.whisper, name="whisper"),
    path("supervise/<int:conversation_id>/barge/", supervise_views.barge, name="barge"),
    path("supervise/<int:conversation_id>/takeover/", supervise_views.takeover, name="takeover"),
    path(
        "conversations/<int:conversation_id>/supervision/",
        supervise_views.conversation_supervision,
        name="conversation_supervision",
    ),
    path("calls/<int:call_id>/monitor/", supervision_views.monitor_call, name="monitor_call"),
    path(
        "calls/<int:call_id>/monitor/stop/",
        supervision_views.stop_monitoring,
        name="stop_monitoring",
    ),
    path("expert-availability/", routing_views.expert_availability, name="expert_availability"),
    path("conversations/<int:conversation_id>/transfer/", routing_views.transfer, name="transfer"),
    path("conversations/<int:conversation_id>/reassign/", routing_views.reassign, name="reassign"),
    path(
        "conversations/<int:conversation_id>/experts/",
        routing_views.invite_expert,
        name="invite_expert",
    ),
    path(
        "conversations/<int:conversation_id>/experts/<int:user_id>/leave/",
        routing_views.remove_expert,
        name="remove_expert",
    ),
    path(
        "conversations/<int:conversation_id>/routing-preferences/",
        routing_views.routing_preferences,
        name="routing_preferences",
    ),
    path("appointments/", scheduling_views.appointments, name="appointments"),
    path(
        "appointments/<int:appointment_id>/cancel/",
        scheduling_views.cancel_appointment,
        name="cancel_appointment",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        scheduling_views.reschedule_appointment,
        name="reschedule_appointment",
    ),
    path("callbacks/<int:callback_id>/dial/", scheduling_views.callback_dial, name="callback_dial"),
    path(
        "appointments/<int:appointment_id>/dial/",
        scheduling_views.appointment_dial,
        name="appointment_dial",
    ),
    path("callbacks/<int:callback_id>/done/", scheduling_views.callback_done, name="callback_done"),
    path(
        "callbacks/<int:callback_id>/no-answer/",
        scheduling_views.callback_no_answer,
        name="callback_no_answer",
    ),
    # The call panel (desk/call_views.py); URLs as calls.js and the browser media code use them.
    re_path(r"^calls/panel/?$", call_views.panel, name="call_panel"),
    re_path(
        r"^calls/(?P<call_id>[0-9]+)/(?P<action>accept|reject|hold|resume|mute|unmute|end|connected)/?$",
        call_views.call_action,
        name="call_action",
    ),
    path(
        "conversations/<int:conversation_id>/video-invite/",
        webrtc_views.video_invite,
        name="video_invite",
    ),
    path("calls/<int:call_id>/ice/", webrtc_views.call_ice, name="call_ice"),
    path("calls/media/", webrtc_views.my_browser_calls, name="my_browser_calls"),
    re_path(
        r"^calls/(?P<call_id>[0-9]+)/recording/(?P<action>pause|resume)/?$",
        recording_views.call_recording,
        name="call_recording",
    ),
    path("profile/", profile_views.profile, name="profile"),
    path("profile/language/", profile_views.profile_language, name="profile_language"),
    # The desk's JavaScript strings (desk/locale/*/djangojs.po) in the request's language, as
    # a script file: no inline script under the CSP. `?v=<language>` keeps caches apart.
    path("jsi18n/", JavaScriptCatalog.as_view(packages=["teamline.desk"]), name="jsi18n"),
    # The knowledge base (desk/kb_views.py).
    path("kb/", kb_views.kb_articles, name="kb_articles"),
    path("kb/new/", kb_views.kb_new, name="kb_new"),
    path("kb/preview/", kb_views.kb_preview, name="kb_preview"),
    path("kb/<int:article_id>/", kb_views.kb_article, name="kb_article"),
    re_path(
        r"^kb/(?P<article_id>[0-9]+)/(?P<action>publish|submit|unpublish|up-to-date)/$",
        kb_views.kb_article_action,
        name="kb_article_action",
    ),
    path("kb/<int:article_id>/history/", kb_views.kb_history, name="kb_history"),
    path("kb/<int:article_id>/history/<int:number>/", kb_views.kb_version, name="kb_version"),
    path(
        "kb/<int:article_id>/history/<int:number>/restore/",
        kb_views.kb_restore,
        name="kb_restore",
    ),
    path(
        "kb/<int:article_id>/translate/<str:language>/",
        kb_views.kb_translate,
        name="kb_translate",
    ),
    path("kb/<int:article_id>/suggest/", kb_views.kb_suggest, name="kb_suggest"),
    path("kb/suggestions/", kb_views.kb_suggestions, name="kb_suggestions"),
    path("kb/suggestions/<int:suggestion_id>/", kb_views.kb_suggestion, name="kb_suggestion"),
    re_path(
        r"^kb/suggestions/(?P<suggestion_id>[0-9]+)/(?P<decision>accept|reject)/$",
        kb_views.kb_decide,
        name="kb_decide",
    ),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("sessions/", session_views.sessions, name="sessions"),
    path("sessions/<int:session_id>/end/", session_views.end_session, name="end_session"),
    path("sessions/end-others/", session_views.end_other_sessions, name="end_other_sessions"),
]
