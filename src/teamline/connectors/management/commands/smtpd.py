"""`teamline smtpd`: the built-in SMTP receiver for email inboxes (point an MX or relay at it)."""

from __future__ import annotations

import ssl
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from teamline.connectors.email import all_inbox_addresses
from teamline.connectors.email_parts.smtpd import DEFAULT_MAX_SIZE, make_controller


class Command(BaseCommand):
    help = (
        "Receive email for the configured email inboxes over SMTP. Unknown recipients are "
        "refused with 550; accepted mail is stored, then processed by the task worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2525, help="TCP port (25 for an MX)")
        parser.add_argument(
            "--max-size", type=int, default=DEFAULT_MAX_SIZE, help="largest message, bytes"
        )
        parser.add_argument("--hostname", default=None, help="name in the greeting (FQDN)")
        parser.add_argument("--tls-cert", default="", help="PEM certificate for STARTTLS")
        parser.add_argument("--tls-key", default="", help="PEM private key for STARTTLS")

    def handle(self, *args: object, **options: object) -> None:
        context = None
        cert, key = str(options["tls_cert"] or ""), str(options["tls_key"] or "")
        if bool(cert) != bool(key):
            raise CommandError("--tls-cert and --tls-key go together")
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
        host, port = str(options["host"]), int(str(options["port"]))
        controller = make_controller(
            host,
            port,
            max_size=int(str(options["max_size"])),
            tls_context=context,
            server_hostname=str(options["hostname"]) if options["hostname"] else None,
        )
        addresses = sorted(all_inbox_addresses())
        controller.start()
        self.stdout.write(f"Teamline SMTP receiver on {host}:{port} (Ctrl+C to stop)")
        self.stdout.write("Accepting mail for: " + (", ".join(addresses) or "no inbox yet"))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
