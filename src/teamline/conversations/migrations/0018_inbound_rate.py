from django.db import migrations, models


class Migration(migrations.Migration):
    """A customer's message rate, counted on their conversation's row (conversations/inbound.py):
    existing rows start at 0, i.e. no message counted yet in any minute."""

    dependencies = [("conversations", "0017_experts_invited_at")]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="inbound_minute",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="conversation",
            name="inbound_in_minute",
            field=models.PositiveIntegerField(default=0),
        ),
    ]
