"""Lookups that answer "nothing matches" instead of failing on ids no column can hold.

Django (5.0+) already treats `pk=<an integer beyond the column's range>` as matching nothing;
`pk__in=[…]` still hands such a number to the database, where SQLite refuses to bind it
(OverflowError: a 500). Ids like that come from requests: a tampered admin form (a list's
checkboxes, its editable rows, a many-to-many select) or a hand-typed URL. Registered for every
integer field in CoreConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import IntegerField
from django.db.models.lookups import In


class IntegerFieldIn(In):
    """`in` on an integer column, leaving out the numbers the column cannot hold (they match
    no row); with none left, the lookup matches nothing, as Django's own `exact` does."""

    def process_rhs(self, compiler: Any, connection: Any) -> Any:
        if self.rhs_is_direct_value():
            low, high = connection.ops.integer_field_range(
                self.lhs.output_field.get_internal_type()
            )
            values = list(self.rhs)
            kept = [
                value
                for value in values
                if not isinstance(value, int)
                or ((low is None or value >= low) and (high is None or value <= high))
            ]
            if values and not kept:
                raise EmptyResultSet
            self.rhs = kept
        return super().process_rhs(compiler, connection)


def register() -> None:
    IntegerField.register_lookup(IntegerFieldIn)
