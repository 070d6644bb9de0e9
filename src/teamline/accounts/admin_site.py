from typing import Any

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .views import SignInView


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
