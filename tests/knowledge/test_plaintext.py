"""An article as plain text, for a reply box (SMS shows no Markdown) and the widget (which
never puts HTML into a brand's page)."""

from teamline.knowledge.plaintext import markdown_to_text


def test_an_article_reads_as_plain_text_with_its_links_and_lists():
    body = (
        "# Roaming\n\nTurn **on** [roaming](https://nordlys.example/roaming) in *Settings*.\n"
        "Then restart.\n\n1. Open the app\n2. Tap `Roaming`\n\n- EU: home prices\n"
        "- USA: [https://nordlys.example/usa](https://nordlys.example/usa)\n\n"
        "| Zone | Price |\n|---|---|\n| EU | 0 kr |\n\n<script>alert(1)</script>\n\nEnd."
    )
    assert markdown_to_text(body) == (
        "Roaming\n\n"
        "Turn on roaming (https://nordlys.example/roaming) in Settings.\nThen restart.\n\n"
        "1. Open the app\n2. Tap Roaming\n\n"
        "- EU: home prices\n- USA: https://nordlys.example/usa\n\n"
        "Zone | Price\nEU | 0 kr\n\n"
        "<script>alert(1)</script>\n\n"
        "End."
    )


def test_a_long_article_is_cut_at_a_word_with_an_ellipsis():
    text = markdown_to_text("word " * 500, limit=60)
    assert len(text) <= 60
    assert text.endswith("word…")
