"""Which marked strings have no translation yet (docs/i18n.md, "Finding what is missing").

    .venv/bin/python scripts/catalog_gaps.py [--domain django|djangojs]

Runs Django's makemessages (GNU gettext's xgettext: `apt-get install gettext`) over a copy of
src/teamline in a temporary directory — the catalogs in the tree are not touched — and lists
every msgid marked in Python or a template that one of the five catalogs (nb, zh_Hans,
zh_Hant, et, pt) of any app lacks, with where it is used. Exit status 1 when something is
missing. Django merges all apps' catalogs, so a string translated in any app's catalog counts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "teamline"
LANGUAGES = ("nb", "zh_Hans", "zh_Hant", "et", "pt")


def _key(message):  # type: ignore[no-untyped-def]
    return (message.id[0] if isinstance(message.id, tuple) else message.id), message.context


def translated(domain: str) -> dict[str, set[tuple[str, str | None]]]:
    found: dict[str, set[tuple[str, str | None]]] = {language: set() for language in LANGUAGES}
    for language in LANGUAGES:
        for po in SOURCE.glob(f"*/locale/{language}/LC_MESSAGES/{domain}.po"):
            with po.open("rb") as source:
                for message in read_po(source):
                    strings = (
                        message.string if isinstance(message.string, tuple) else (message.string,)
                    )
                    if message.id and all(strings) and not message.fuzzy:
                        found[language].add(_key(message))
    return found


def extracted(domain: str, workdir: Path) -> dict[tuple[str, str | None], list[str]]:
    copy = workdir / "teamline"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("*.mo", "__pycache__"))
    (copy / "locale").mkdir(exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "teamline.settings.test"}
    env["PYTHONPATH"] = str(ROOT / "src")
    subprocess.run(  # noqa: S603 - our own django-admin, fixed arguments
        [
            str(Path(sys.executable).with_name("django-admin")),
            "makemessages",
            "-d",
            domain,
            "-l",
            "nb",
            "--no-obsolete",
            "--ignore=static/*/vendor/*",
        ],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    used: dict[tuple[str, str | None], list[str]] = {}
    for po in copy.glob(f"**/locale/nb/LC_MESSAGES/{domain}.po"):
        with po.open("rb") as source:
            for message in read_po(source):
                if message.id:
                    where = [f"{path}:{line}" for path, line in message.locations]
                    used.setdefault(_key(message), []).extend(where)
    return used


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--domain", default="django", choices=["django", "djangojs"])
    args = parser.parse_args()
    if shutil.which("xgettext") is None:
        print("xgettext (GNU gettext) is needed: apt-get install gettext", file=sys.stderr)
        return 2
    have = translated(args.domain)
    with tempfile.TemporaryDirectory(prefix="teamline-catalog-gaps-") as workdir:
        used = extracted(args.domain, Path(workdir))
    missing = 0
    for key, where in sorted(used.items(), key=lambda item: item[1][:1]):
        lacking = [language for language in LANGUAGES if key not in have[language]]
        if lacking:
            missing += 1
            context = f" (context {key[1]!r})" if key[1] else ""
            print(f"{key[0]!r}{context}: {', '.join(lacking)} — {', '.join(where[:3])}")
    print(f"{missing} of {len(used)} strings lack a translation", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
