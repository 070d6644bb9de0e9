from django.contrib import admin

from .models import Customer, Identity


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "home_team", "preferred_language", "created_at"]
    list_filter = ["home_team"]
    search_fields = ["name", "identities__value"]
    inlines = [IdentityInline]
