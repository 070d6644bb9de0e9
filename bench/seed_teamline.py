"""Seed a fresh, migrated Teamline database for bench/ws_throughput.py (run by it, not by hand).

Everything goes through the real actions (via teamline.core.testing's factories): one team, one
web chat inbox, K agents available with the given chat capacity. For each agent it also creates
a Django session in the database (the same keys django.contrib.auth.login writes), the fallback
the harness uses when the desk's HTTP login is not available. Prints one JSON line on stdout.

    TEAMLINE_VAR_DIR=... [TEAMLINE_DATABASE_URL=...] python bench/seed_teamline.py --agents K \
        --chat-capacity C --password P
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--chat-capacity", type=int, required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamline.settings.defaults")
    import django

    django.setup()

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from teamline.accounts.actions import do_create_api_token
    from teamline.accounts.models import ChannelKind, Presence
    from teamline.core.testing import create_agent, create_inbox, create_team

    team = create_team("Bench", region="bench")
    inbox = create_inbox(team, name="Bench web chat")
    backend = settings.AUTHENTICATION_BACKENDS[0]
    agents = []
    for i in range(args.agents):
        user = create_agent(
            f"bench-agent-{i:03d}",
            team=team,
            presence=Presence.AVAILABLE,
            capacity={
                ChannelKind.CHAT: args.chat_capacity,
                ChannelKind.EMAIL: 5,
                ChannelKind.VOICE: 1,
            },
            password=args.password,
        )
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        # A personal access token for replies through the API (--idle-widgets).
        _token, api_token = do_create_api_token(user, name="bench", actor=user)
        agents.append(
            {
                "username": user.username,
                "session_key": session.session_key,
                "api_token": api_token,
            }
        )
    print(json.dumps({"inbox": str(inbox.public_id), "team": team.pk, "agents": agents}))


if __name__ == "__main__":
    main()
