"""The JSON API, /api/v1/ (OpenAPI at /api/v1/openapi.json).

Authentication: the desk's session (with CSRF) or a personal access token
(`Authorization: Bearer tl_…`). A token's scopes are enforced here, once, for every endpoint
(BearerToken): `read` for GET/HEAD/OPTIONS, `write` for every other method, and `admin` on
top for the admin-only routers (mounted with ADMIN_AUTH); the privacy requests (customer
export and erasure, PRIVACY_AUTH) need the `privacy` scope instead, and nothing else; a
token without scopes may do everything its user may. Every id in a path goes through an
access_* helper, so the API has exactly the desk's access rules. TeamlineError → its 4xx
status with {"code", "detail"}.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.urls import reverse
from ninja import NinjaAPI, Schema, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from teamline.accounts.actions import check_token_use, find_api_token
from teamline.accounts.api import router as accounts_router
from teamline.accounts.api import users_router
from teamline.accounts.models import TokenScope
from teamline.analytics.api import router as analytics_router
from teamline.audit.api import router as audit_router
from teamline.connectors.app_api import router as app_router
from teamline.conversations.api import router as conversations_router
from teamline.conversations.label_api import router as labels_router
from teamline.core import jsonsafe
from teamline.core.apischema import ErrorOut
from teamline.core.errors import RateLimited, TeamlineError
from teamline.customers.api import router as customers_router
from teamline.knowledge.api import router as knowledge_router
from teamline.privacy.api import router as privacy_router
from teamline.proactive.api import EventsToken, SignedKey, rules_router
from teamline.proactive.api import router as events_router
from teamline.proactive.failure_api import failures_router
from teamline.proactive.outage_api import outages_router
from teamline.replies.api import router as canned_replies_router
from teamline.routing.api import appointments_router, callbacks_router, transfers_router
from teamline.routing.supervision_api import router as supervision_router
from teamline.search.api import router as search_router
from teamline.selfservice.api import router as selfservice_router
from teamline.surveys.api import conversation_router as survey_conversation_router
from teamline.surveys.api import router as surveys_router
from teamline.wellbeing.api import router as wellbeing_router

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WHERE = {TokenScope.ADMIN: "an admin-only endpoint", TokenScope.PRIVACY: "a privacy request"}


class BearerToken(HttpBearer):
    """A personal access token. Unknown or revoked: not this authenticator (401 if nothing
    else authenticates); expired: 401 saying so; a scope missing for the method (or for an
    admin-only router): 403 saying which."""

    def __init__(self, *, admin_only: bool = False, privacy: bool = False) -> None:
        super().__init__()
        self.admin_only = admin_only
        self.privacy = privacy

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = find_api_token(token)
        if found is None:
            return None
        if found.is_expired:
            raise AuthenticationError(
                401, f"This token expired at {found.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        if self.privacy:
            # Export and erasure: a scoped token needs `privacy` (read, write or admin do not
            # reach a customer's whole record); who may ask is privacy/queries.py's rule.
            needed = [TokenScope.PRIVACY]
        else:
            needed = [TokenScope.READ if request.method in SAFE_METHODS else TokenScope.WRITE]
        if self.admin_only:
            needed.append(TokenScope.ADMIN)
        for scope in needed:
            if not found.allows(scope):
                where = WHERE.get(scope, request.method)
                raise AuthorizationError(
                    403,
                    f"This token's scopes ({', '.join(found.scopes)}) do not allow this: "
                    f"{where} needs the `{scope}` scope.",
                )
        user = check_token_use(found).user
        request.user = user
        return user


class StaffSession(APIKeyCookie):
    """The desk's session cookie (CSRF checked by django-ninja for cookie auth)."""

    param_name = "sessionid"

    def _get_key(self, request: HttpRequest) -> str | None:
        # CSRF protects a signed-in session; without one there is nothing to ride on, so a
        # request with a bad bearer token and no session answers 401, not a CSRF 403.
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


class SafeJsonParser(Parser):
    """Bodies are read by core.jsonsafe.loads_structure: not JSON, nested too deep, NaN or a
    number too large → 400 (docs/input.md). Text is judged field by field by the schemas
    (pattern without NUL; pydantic refuses lone surrogates) → 422, so fields the operation
    does not read cannot make a valid request fail. ninja wraps any parser error in an
    HttpError(400); the handler below answers with the jsonsafe error it wraps instead."""

    def parse_body(self, request: HttpRequest) -> Any:
        return jsonsafe.loads_structure(request.body)


class OfflineSwagger(Swagger):
    """The interactive docs with every asset from this installation: Swagger UI from the
    swagger-ui-dist npm package (settings.STATICFILES_DIRS), started by core/api_docs.js from
    the settings the page carries as JSON data — no CDN, no inline script (CSP)."""

    template = "core/api_docs.html"

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        context = {"swagger_settings": settings, "api": api, "add_csrf": True}
        return render(request, self.template, context)


# Admin-only routers: the same authenticators, tokens also needing the `admin` scope.
ADMIN_AUTH = [BearerToken(admin_only=True), StaffSession()]
# Customer export and erasure: an admin's session or unscoped token, or a `privacy` token.
PRIVACY_AUTH = [BearerToken(privacy=True), StaffSession()]

api = NinjaAPI(
    parser=SafeJsonParser(),
    title="Teamline API",
    version="1",
    urls_namespace="api-1",
    auth=[BearerToken(), StaffSession()],
    # No validator badge: Swagger UI would send the document to validator.swagger.io.
    docs=OfflineSwagger(settings={"validatorUrl": None}),
    description="Conversations, messages, notes, statuses and customers, with the desk's access "
    "rules. Authenticate with a personal access token: `Authorization: Bearer tl_…`.",
)


class ApiIndex(Schema):
    name: str
    version: str
    openapi: str
    docs: str


@api.get(
    "/",
    auth=None,
    response={200: ApiIndex, 503: ErrorOut},
    summary="What this API is and where its docs are",
)
def index(request: HttpRequest) -> dict[str, str]:
    """The base of the API: no authentication, so a new client can find the docs from it."""
    return {
        "name": api.title,
        "version": api.version,
        "openapi": reverse("api-1:openapi-json"),
        "docs": reverse("api-1:openapi-view"),
    }


@api.exception_handler(TeamlineError)
def teamline_error(request: HttpRequest, exc: TeamlineError) -> HttpResponse:
    response = api.create_response(
        request, {"code": exc.code, "detail": exc.message}, status=exc.status
    )
    if isinstance(exc, RateLimited):  # as documented for every 429 (core/apischema.py)
        response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(MultiPartParserError)
def unreadable_upload(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
    """A multipart body that is not one (file uploads): the API's 400, not Django's page."""
    detail = f"The multipart/form-data body cannot be read: {exc}"
    return api.create_response(request, {"code": "invalid", "detail": detail}, status=400)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    said = str(exc)
    detail = (
        said if said and said != str(AuthenticationError()) else "Sign in or send a bearer token."
    )
    return api.create_response(request, {"code": "unauthenticated", "detail": detail}, status=401)


@api.exception_handler(ValidationError)
def invalid_input(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """Schema errors keep the {code, detail} shape; `errors` lists each field's problem."""
    problems = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
        field = loc[-1] if loc else ""
        if error.get("ctx", {}).get("pattern") in TEXT_PATTERNS:
            error = {**error, "msg": TEXT_PATTERNS[error["ctx"]["pattern"]]}
        problems.append(f"{field}: {error.get('msg', 'invalid')}" if field else error.get("msg"))
    detail = "; ".join(str(p) for p in problems) or "Invalid input."
    return api.create_response(
        request, {"code": "invalid", "detail": detail, "errors": exc.errors}, status=422
    )


# The text rules' patterns (core.jsonsafe), said in words.
TEXT_PATTERNS = {
    jsonsafe.NO_NUL_PATTERN: "must not contain NUL characters",
    jsonsafe.NOT_BLANK_PATTERN: "must not be blank or contain NUL characters",
}

_HTTP_ERROR_CODES = {400: "invalid", 403: "forbidden", 404: "not_found", 429: "rate_limited"}


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    """ninja's own errors (unparseable body, CSRF failure…) in the same {code, detail} shape."""
    cause = exc.__cause__
    if isinstance(cause, TeamlineError):  # the body parser's refusal, with its own status
        return teamline_error(request, cause)
    code = _HTTP_ERROR_CODES.get(exc.status_code, "error")
    return api.create_response(request, {"code": code, "detail": str(exc)}, status=exc.status_code)


def _mount() -> None:
    api.add_router("/conversations", conversations_router)
    # Transfers, reassignment and experts: /conversations/{id}/transfer, /assign, /experts…
    api.add_router("/conversations", transfers_router)
    # Supervisors: /conversations/{id}/whisper, /barge, /takeover.
    api.add_router("/conversations", supervision_router)
    api.add_router("/conversations", survey_conversation_router)
    api.add_router("/labels", labels_router)
    api.add_router("/canned-replies", canned_replies_router)
    api.add_router("/customers", customers_router)
    # GDPR export and erasure: /customers/{id}/export, /erase, /erasure
    api.add_router("/customers", privacy_router, auth=PRIVACY_AUTH)
    api.add_router("/me", accounts_router)
    api.add_router("/app", app_router)
    api.add_router("/callbacks", callbacks_router)
    api.add_router("/appointments", appointments_router)
    api.add_router("/kb", knowledge_router)
    api.add_router("/search", search_router)
    api.add_router("/surveys", surveys_router)
    api.add_router("/wellbeing", wellbeing_router)
    api.add_router("/audit", audit_router, auth=ADMIN_AUTH)
    api.add_router("/users", users_router, auth=ADMIN_AUTH)
    api.add_router("/selfservice", selfservice_router)
    api.add_router("/analytics", analytics_router)
    api.add_router("/rules", rules_router, auth=ADMIN_AUTH)
    api.add_router("/events/failed", failures_router, auth=ADMIN_AUTH)
    # Operators' systems: an admin's token (scope `events`) or a signed integration key.
    api.add_router("/events", events_router, auth=[EventsToken(), SignedKey(), StaffSession()])
    api.add_router("/outages", outages_router, auth=ADMIN_AUTH)


_mount()
