from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar, cast

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.urls import reverse

from .views import SignInView

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


class TeamlineAdminSite(AdminSite):
    """The Django admin is for Teamline admins only, whatever other flags a user carries."""

    site_header = "Teamline administration"
    site_title = "Teamline admin"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and getattr(user, "is_admin", False))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The admin signs in through the staff sign-in (throttle, second factor, passkeys),
        then comes back here."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        if request.user.is_authenticated:
            # Signed in, but not an admin: sending them to sign in again would loop.
            raise PermissionDenied
        if "next" not in request.GET and "next" not in request.POST:
            query = request.GET.copy()
            query["next"] = reverse("admin:index", current_app=self.name)
            request.GET = query  # type: ignore[assignment]
        response: HttpResponse = SignInView.as_view()(request)
        return response

    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Every admin page; a list's action posted with ids that are not ids of its model
        (a tampered form: `abc`) acts on the well-formed ones only, so a bad id is "no items
        selected" instead of a 500 (numbers too large for the column: core/lookups.py)."""
        wrapped = super().admin_view(view, cacheable)
        model_admin = getattr(view, "__self__", None)
        if not isinstance(model_admin, ModelAdmin):
            return wrapped

        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST" and ACTION_CHECKBOX_NAME in request.POST:
                request.POST = well_formed_selection(request.POST, model_admin.model)  # type: ignore[assignment]
            return wrapped(request, *args, **kwargs)

        return cast(_View, update_wrapper(checked, wrapped))


def well_formed_selection(data: QueryDict, model: type[Model]) -> QueryDict:
    """`data` with only the selected ids its model's primary key can read."""
    pk = model._meta.pk
    assert pk is not None
    kept = []
    for value in data.getlist(ACTION_CHECKBOX_NAME):
        try:
            pk.to_python(value)
        except ValidationError:
            continue
        kept.append(value)
    cleaned = data.copy()
    cleaned.setlist(ACTION_CHECKBOX_NAME, kept)
    return cleaned
