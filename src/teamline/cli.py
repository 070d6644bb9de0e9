"""`teamline` console script: the management commands under short names.

teamline demo        migrate, seed demo data, serve on http://127.0.0.1:8000
teamline serve       web + websockets (+ the task worker in embedded mode)
teamline worker      a task worker process (run several at scale)
teamline migrate     apply database migrations
teamline createadmin create an admin user
teamline token create --user NAME [--name LABEL]
teamline integration-key create --name LABEL --admin NAME   (also: list, revoke ID)
teamline failed-events list | replay ID --admin NAME        event batches that failed
teamline audit verify  check the audit log's hash chain (exit 1 on a break)
teamline seed        seed demo data only (idempotent)
teamline compilecatalogs  compile the translation catalogs (.po → .mo, stale ones)
teamline <any manage.py command>
"""

from __future__ import annotations

import os
import sys

ALIASES = {
    "seed": "seed_demo",
    "token": "token",
    "createadmin": "createadmin",
    "integration-key": "integration_key",
    "failed-events": "failed_events",
}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamline.settings.defaults")
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    from django.core.management import execute_from_command_line

    command, rest = argv[1], argv[2:]
    if command == "demo":
        execute_from_command_line(["teamline", "compilecatalogs", "-v", "0"])
        execute_from_command_line(["teamline", "migrate", "--no-input", "-v", "0"])
        execute_from_command_line(["teamline", "seed_demo"])
        execute_from_command_line(["teamline", "serve", *rest])
        return
    execute_from_command_line(["teamline", ALIASES.get(command, command), *rest])


if __name__ == "__main__":
    main()
