from django.contrib.admin import AdminSite
from django.http import HttpRequest

from .forms import AdminSignInForm


class TeamlineAdminSite(AdminSite):
    """The Django admin is for Teamline admins only, whatever other flags a user carries."""

    site_header = "Teamline administration"
    site_title = "Teamline admin"
    login_form = AdminSignInForm

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and getattr(user, "is_admin", False))
