"""Compile the gettext catalogs (`locale/<lang>/LC_MESSAGES/*.po` → `.mo`) with Babel.

The compiled `.mo` files are build output, not source: they are git-ignored and made by the
setup command (`make setup` runs `python -m teamline.core.catalogs`), by `teamline demo`, by
`teamline compilecatalogs` and at the start of a test run. Babel is pure Python, so no GNU
gettext is needed. A catalog is recompiled only when its `.po` is newer than its `.mo`; the
`.mo` is written next to it atomically, so two processes compiling at once (test workers) never
leave a half-written file for a third to read.

Fuzzy entries are left out of the `.mo` (gettext's rule: a guess is not a translation); the
test suite fails on them anyway (tests/core/test_catalogs.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def po_files(root: Path = SOURCE_ROOT) -> list[Path]:
    return sorted(root.glob("*/locale/*/LC_MESSAGES/*.po"))


def compile_catalog(po: Path, *, force: bool = False) -> bool:
    """Compile one `.po`; True when its `.mo` was (re)written."""
    mo = po.with_suffix(".mo")
    if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return False
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    handle, temporary = tempfile.mkstemp(dir=po.parent, prefix=".django-", suffix=".mo")
    try:
        with os.fdopen(handle, "wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        os.replace(temporary, mo)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def compile_catalogs(root: Path = SOURCE_ROOT, *, force: bool = False) -> list[Path]:
    """Compile every stale catalog under the source tree; the `.po` files compiled."""
    return [po for po in po_files(root) if compile_catalog(po, force=force)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    compiled = compile_catalogs(force="--force" in args)
    total = len(po_files())
    print(f"catalogs: {len(compiled)} compiled, {total - len(compiled)} up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
