"""GDPR operations on a large customer: export, erasure and a retention run (not a test).

    .venv/bin/python bench/privacy_gdpr.py [--messages 20000 --conversations 40
        --attachments 50 --attachment-kb 200 --others 100000 --db sqlite|postgresql
        --db-url postgres://postgres@127.0.0.1:5432/postgres --json out.json]

Builds a fresh database (a temporary SQLite file, or a scratch PostgreSQL database
teamline_bench_privacy_<pid>, dropped afterwards), migrates it and bulk-inserts one customer
with `--messages` messages over `--conversations` conversations and `--attachments` files of
`--attachment-kb` each, beside `--others` messages of 1,000 other customers on the same inbox.
Then, through Django's test client with an admin's token (the whole request path in-process):
GET …/export (time, archive size, peak Python memory by tracemalloc), POST …/erase and the
erasure task (time), and a retention run clearing the other customers' messages (time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.scratch_db import configure, drop  # noqa: E402

BATCH = 5_000


def build(args: argparse.Namespace) -> dict[str, object]:
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.utils import timezone

    from teamline.accounts.models import Role
    from teamline.conversations.models import Attachment, Conversation, Message
    from teamline.core.testing import create_inbox, create_team, create_user
    from teamline.customers.actions import do_add_identity
    from teamline.customers.models import Customer

    call_command("migrate", verbosity=0)
    team = create_team("Oslo")
    inbox = create_inbox(team)
    admin = create_user("admin", role=Role.ADMIN)
    customer = Customer.objects.create(name="Zelda Quarkwhistle", home_team=team)
    do_add_identity(customer, "phone", "+4791234567", verified=True)
    old = timezone.now() - timedelta(days=400)
    began = time.perf_counter()

    def conversations_of(owner: Customer, count: int) -> list[Conversation]:
        return Conversation.objects.bulk_create(
            Conversation(
                customer=owner, inbox=inbox, team=team, channel="webchat", status="resolved"
            )
            for _ in range(count)
        )

    def messages(convs: list[Conversation], count: int, text: str) -> None:
        for offset in range(0, count, BATCH):
            Message.objects.bulk_create(
                Message(
                    conversation=convs[n % len(convs)],
                    direction="in" if n % 2 else "out",
                    sender_kind="customer" if n % 2 else "agent",
                    channel="webchat",
                    inbox=inbox,
                    text=f"{text} {n}: " + "lorem ipsum dolor sit amet " * 4,
                    created_at=old,
                )
                for n in range(offset, min(count, offset + BATCH))
            )

    mine = conversations_of(customer, args.conversations)
    messages(mine, args.messages, "my message")
    payload = os.urandom(args.attachment_kb * 1024)
    for message in Message.objects.filter(conversation__customer=customer)[: args.attachments]:
        Attachment.objects.create(
            message=message,
            file=ContentFile(payload, name="photo.png"),
            filename="photo.png",
            content_type="image/png",
            size=len(payload),
        )
    others = Customer.objects.bulk_create(Customer(name=f"Other {i}") for i in range(1000))
    theirs = Conversation.objects.bulk_create(
        Conversation(customer=o, inbox=inbox, team=team, channel="webchat") for o in others
    )
    messages(theirs, args.others, "someone else")
    return {
        "customer": customer.pk,
        "admin": admin,
        "inbox": inbox,
        "build_s": round(time.perf_counter() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--attachments", type=int, default=50)
    parser.add_argument("--attachment-kb", type=int, default=200)
    parser.add_argument("--others", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--db-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="teamline-bench-privacy-"))
    name = configure(args.db, args.db_url, workdir, label="privacy")
    try:
        from django.test import Client

        from teamline.accounts.actions import do_create_api_token
        from teamline.privacy.actions import do_apply_retention, do_erase_customer
        from teamline.privacy.models import RetentionPolicy

        built = build(args)
        _, secret = do_create_api_token(built["admin"], name="bench", actor=built["admin"])
        client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
        pk = built["customer"]

        if os.environ.get("BENCH_TRACE"):
            tracemalloc.start()
        began = time.perf_counter()
        response = client.get(f"/api/v1/customers/{pk}/export")
        size = sum(len(chunk) for chunk in response.streaming_content)
        export_s = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        tracemalloc.stop()
        assert response.status_code == 200, response.status_code

        began = time.perf_counter()
        assert client.post(f"/api/v1/customers/{pk}/erase").status_code == 202
        erasure = do_erase_customer(pk)  # what the durable task runs
        erase_s = time.perf_counter() - began
        assert erasure is not None and erasure.state == "done"

        RetentionPolicy.objects.create(inbox=built["inbox"], message_body_days=365)
        began = time.perf_counter()
        run = do_apply_retention()
        retention_s = time.perf_counter() - began
        assert run is not None

        result = {
            "db": args.db,
            "messages": args.messages,
            "attachments": args.attachments,
            "attachment_kb": args.attachment_kb,
            "others": args.others,
            "build_s": built["build_s"],
            "export_s": round(export_s, 2),
            "export_mb": round(size / 1e6, 1),
            "export_peak_python_mb": round(peak / 1e6, 1),
            "erase_s": round(erase_s, 2),
            "erased": erasure.removed,
            "retention_s": round(retention_s, 2),
            "retention_cleared": run.messages_cleared,
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
    finally:
        drop(args.db_url, name)


if __name__ == "__main__":
    main()
