"""Fill the new search index (0004) with the published articles, as
knowledge.search.index_article would: their published version's folded words and grams, and
the term counts per kind and language. Reversing leaves the index to 0004's reversal."""

from collections import Counter

from django.db import migrations

from teamline.knowledge.text import terms


def index_published_articles(apps, schema_editor):
    Article = apps.get_model("knowledge", "Article")
    SearchEntry = apps.get_model("knowledge", "SearchEntry")
    SearchTerm = apps.get_model("knowledge", "SearchTerm")
    counts: Counter[tuple[str, str]] = Counter()
    published = Article.objects.filter(published_version__isnull=False).select_related(
        "published_version"
    )
    for article in published.iterator(chunk_size=500):
        version = article.published_version
        title_words, title_grams = terms(version.title).as_text()
        body_words, body_grams = terms(version.body).as_text()
        language = article.language
        SearchEntry.objects.create(
            kind="article",
            object_id=article.pk,
            language=language,
            public=True,
            scope=f"article0{language.replace('-', '')}01",
            title_words=title_words,
            title_grams=title_grams,
            body_words=body_words,
            body_grams=body_grams,
        )
        found = {"", *f"{title_words} {title_grams} {body_words} {body_grams}".split()}
        counts.update((language, term) for term in found)
    SearchTerm.objects.bulk_create(
        [
            SearchTerm(kind="article", language=language, term=term, documents=n)
            for (language, term), n in counts.items()
        ],
        batch_size=2000,
    )


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0004_search_documents")]

    operations = [migrations.RunPython(index_published_articles, migrations.RunPython.noop)]
