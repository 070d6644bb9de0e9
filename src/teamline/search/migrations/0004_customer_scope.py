"""Customer documents carry who may see the customer (search.actions.index_customers): the
scope tokens of the home team, of their conversations' teams and of those conversations'
assignees, so a customer search is limited to the actor's customers by the full-text query
itself (docs/benchmarks.md, "Desk search").

Rewrites every existing document in place, in batches, in this migration's transaction: no
search finds fewer customers after the upgrade than before it, and the indexer has nothing
to catch up on. Idempotent: the tokens a document had are replaced, never added twice.
Also installs the conversation triggers that keep the scope current and the wider
condition of `search_customer_changed` (SQLite keeps an existing trigger as it was)."""

import re

from django.db import migrations

from teamline.search.triggers import install_statements

BATCH = 1_000
_SCOPE = re.compile(r"^0[ta]\d+$")


def _rewrite(apps, with_scope: bool) -> None:
    CustomerDocument = apps.get_model("search", "CustomerDocument")
    Customer = apps.get_model("customers", "Customer")
    Conversation = apps.get_model("conversations", "Conversation")
    after = -1
    while True:
        documents = list(
            CustomerDocument.objects.filter(customer_id__gt=after).order_by("customer_id")[:BATCH]
        )
        if not documents:
            return
        after = documents[-1].customer_id
        ids = [document.customer_id for document in documents]
        teams: dict[int, set[int]] = {}
        assignees: dict[int, set[int]] = {}
        if with_scope:
            for pk, home_team_id in Customer.objects.filter(pk__in=ids).values_list(
                "pk", "home_team_id"
            ):
                if home_team_id is not None:
                    teams.setdefault(pk, set()).add(home_team_id)
            handled = (
                Conversation.objects.filter(customer_id__in=ids)
                .values_list("customer_id", "team_id", "assignee_id")
                .distinct()
            )
            for customer_id, team_id, assignee_id in handled:
                teams.setdefault(customer_id, set()).add(team_id)
                if assignee_id is not None:
                    assignees.setdefault(customer_id, set()).add(assignee_id)
        rewritten = []
        for document in documents:
            words = [term for term in document.terms.split() if not _SCOPE.match(term)]
            scope = [
                *(f"0t{team}" for team in sorted(teams.get(document.customer_id, ()))),
                *(f"0a{user}" for user in sorted(assignees.get(document.customer_id, ()))),
            ]
            rewritten.append(
                CustomerDocument(customer_id=document.customer_id, terms=" ".join(words + scope))
            )
        # Delete and insert, not UPDATE: SQLite's full-text index follows the document table
        # through its insert and delete triggers only.
        CustomerDocument.objects.filter(customer_id__in=ids).delete()
        CustomerDocument.objects.bulk_create(rewritten, batch_size=500)


def add_scope(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS search_customer_changed", params=None)
    for sql in install_statements(vendor):
        schema_editor.execute(sql, params=None)
    _rewrite(apps, with_scope=True)


def remove_scope(apps, schema_editor):
    _rewrite(apps, with_scope=False)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0003_note_existing_rows"),
        ("conversations", "0016_team_customer_index"),
        ("customers", "0008_consent_source_email"),
    ]

    operations = [migrations.RunPython(add_scope, remove_scope)]
