"""The translation catalogs: every entry translated for real, compiled at setup, not committed.

A customer who reads Estonian must never get the English sentence because a catalog entry was
left empty, marked fuzzy, or filled in with the English copy. Words that really are the same in
a language (a currency's name, a brand) are listed here, one by one, with the language."""

import shutil
import subprocess
from pathlib import Path

from babel.messages.pofile import read_po
from django.utils import translation

from teamline.core.catalogs import SOURCE_ROOT, compile_catalog, compile_catalogs, po_files

REPO = Path(__file__).resolve().parents[2]
LANGUAGES = {"nb", "zh_Hans", "zh_Hant", "et", "pt"}
# (catalog language, msgid) pairs whose translation is the English word itself.
SAME_AS_ENGLISH = {
    ("nb", "kroner"),  # the currency's own name
    ("nb", "yuan"),
    ("nb", "DATA"),  # the SMS keyword: "data" is Norwegian too
    ("nb", "Send"),  # the button: the imperative is the same word
    ("pt", "euros"),
    ("pt_BR", "euros"),
    ("nb", "Signal"),  # the same word in Norwegian
    # Hours and minutes: "h" and "min" are the unit symbols in Estonian and Portuguese too.
    ("et", "%(hours)d h %(minutes)02d min"),
    ("pt", "%(hours)d h %(minutes)02d min"),
}


def _entries(po: Path):
    with po.open("rb") as source:
        catalog = read_po(source)
    for message in catalog:
        if message.id:
            yield message


def _problems(po: Path, root: Path = SOURCE_ROOT) -> list[str]:
    language = po.parent.parent.name
    found = []
    for message in _entries(po):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        where = f"{po.relative_to(root)}: {ids[0]!r}"
        if message.fuzzy:
            found.append(f"{where} is fuzzy")
        elif not all(strings):
            found.append(f"{where} is untranslated")
        elif strings[0] == ids[0] and (language, ids[0]) not in SAME_AS_ENGLISH:
            found.append(f"{where} is the English copy")
    return found


def test_every_catalog_entry_is_translated_not_fuzzy_and_not_the_english_copy():
    assert po_files(), "no catalogs found"
    problems = [problem for po in po_files() for problem in _problems(po)]
    assert problems == []


def test_the_check_catches_an_untranslated_a_fuzzy_and_a_copied_entry(tmp_path):
    po = tmp_path / "et" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Send"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Close"\nmsgstr "Sulge"\n\n'
        'msgid "Chat with us"\nmsgstr "Chat with us"\n\n'
        'msgid "Thanks"\nmsgstr "Aitäh"\n',
        encoding="utf-8",
    )
    problems = _problems(po, root=tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "'Send' is untranslated",
        "'Close' is fuzzy",
        "'Chat with us' is the English copy",
    ]


def test_every_app_with_a_catalog_has_all_five_translations():
    apps = {po.parts[len(SOURCE_ROOT.parts)] for po in po_files()}
    for app in sorted(apps):
        catalogs = (SOURCE_ROOT / app / "locale").glob("*/LC_MESSAGES/django.po")
        present = {po.parent.parent.name for po in catalogs}
        assert present >= LANGUAGES, f"{app} lacks {sorted(LANGUAGES - present)}"


def test_compiled_catalogs_are_build_output_not_committed():
    if not (REPO / ".git").exists():
        return  # an installed copy: nothing to check
    tracked = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == []
    assert "*.mo" in (REPO / ".gitignore").read_text().splitlines()


def test_compiling_makes_a_mo_that_gettext_reads_and_only_when_stale(tmp_path):
    source = SOURCE_ROOT / "widget" / "locale" / "nb" / "LC_MESSAGES" / "django.po"
    po = tmp_path / "widget" / "locale" / "nb" / "LC_MESSAGES" / "django.po"
    po.parent.mkdir(parents=True)
    shutil.copy(source, po)
    assert compile_catalogs(tmp_path) == [po]
    assert po.with_suffix(".mo").stat().st_size > 0
    assert compile_catalogs(tmp_path) == []  # up to date: nothing to do
    assert compile_catalog(po, force=True)
    # And the product's own compiled catalogs are what Django reads.
    with translation.override("nb"):
        assert translation.gettext("Close suggestions") == "Lukk forslagene"
