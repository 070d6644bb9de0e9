from django.db import migrations, models
from django.db.models import Min, OuterRef, Subquery


def stamp_invited(apps, schema_editor) -> None:
    # Conversations experts were invited to before this field existed: stamped with their
    # first invitation, so their messages and replies keep reaching the experts taking part.
    Conversation = apps.get_model("conversations", "Conversation")
    Participant = apps.get_model("conversations", "ConversationParticipant")
    db = schema_editor.connection.alias
    first = (
        Participant.objects.using(db)
        .filter(conversation_id=OuterRef("pk"))
        .order_by()
        .values("conversation_id")
        .annotate(first=Min("joined_at"))
        .values("first")
    )
    Conversation.objects.using(db).filter(
        pk__in=Participant.objects.using(db).values("conversation_id")
    ).update(experts_invited_at=Subquery(first))


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0016_team_customer_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="experts_invited_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(stamp_invited, migrations.RunPython.noop),
    ]
