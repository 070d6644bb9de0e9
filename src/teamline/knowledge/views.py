"""The public help center (/help/): published articles in the visitor's language, search,
and a JSON search for the widget and apps. Server-rendered, no JavaScript needed, every page
at a stable URL (/help/<language>/<slug>/).

The visitor's language: the one in the URL, else `?lang=`, else the best match of their
browser's Accept-Language among the six, else English."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_GET

from teamline.core import ratelimit
from teamline.core.errors import InvalidInput, NotFound, RateLimited
from teamline.core.jsonsafe import text_problem

from .actions import language_code
from .api import search_results
from .hooks import PublicHit, help_center_links, search_presenters
from .models import KbLanguage
from .queries import public_article, published_articles
from .render import render_markdown
from .search import MAX_QUERY_CHARS, search

PUBLIC_SEARCH_LIMIT = 10
# Per visitor address: generous for people, a wall for scrapers.
PUBLIC_SEARCH_PER_MINUTE = 60
# The help center's own words, per language (the articles are the authors').
WORDS: dict[str, dict[str, str]] = {
    "en": {"community": "From the community", "community_mark": "Community",
           "title": "Help center", "search": "Search", "placeholder": "How can we help?",
           "results": "Results for", "none": "Nothing found. Try other words, "
                   "or contact your team.",
           "language": "Language", "articles": "Articles", "home": "Help center home",
           "other": "Other", "translations": "Also in"},
    "nb": {"community": "Fra fellesskapet", "community_mark": "Fellesskap",
           "title": "Hjelpesenter", "search": "Søk", "placeholder": "Hva kan vi hjelpe med?",
           "results": "Treff for", "none": "Ingen treff. Prøv andre ord, "
                   "eller kontakt teamet ditt.",
           "language": "Språk", "articles": "Artikler", "home": "Hjelpesenterets forside",
           "other": "Annet", "translations": "Også på"},
    "zh-hans": {"community": "来自社区", "community_mark": "社区",
                "title": "帮助中心", "search": "搜索", "placeholder": "有什么可以帮您？",
                "results": "搜索结果：", "none": "没有找到。请换个说法，或联系您的团队。",
                "language": "语言", "articles": "文章", "home": "帮助中心首页", "other": "其他",
                "translations": "其他语言版本"},
    "zh-hant": {"community": "來自社群", "community_mark": "社群",
                "title": "說明中心", "search": "搜尋", "placeholder": "需要什麼協助？",
                "results": "搜尋結果：", "none": "找不到結果。請換個說法，或聯絡您的團隊。",
                "language": "語言", "articles": "文章", "home": "說明中心首頁", "other": "其他",
                "translations": "其他語言版本"},
    "et": {"community": "Kogukonnast", "community_mark": "Kogukond",
           "title": "Abikeskus", "search": "Otsi", "placeholder": "Kuidas saame aidata?",
           "results": "Tulemused:", "none": "Midagi ei leitud. Proovi teisi sõnu "
                   "või võta meiega ühendust.",
           "language": "Keel", "articles": "Artiklid", "home": "Abikeskuse avaleht",
           "other": "Muu", "translations": "Ka teistes keeltes"},
    "pt": {"community": "Da comunidade", "community_mark": "Comunidade",
           "title": "Centro de ajuda", "search": "Pesquisar",
           "placeholder": "Como podemos ajudar?",
           "results": "Resultados para", "none": "Nada encontrado. Tente outras palavras "
                   "ou contacte a sua equipa.",
           "language": "Idioma", "articles": "Artigos", "home": "Início do centro de ajuda",
           "other": "Outros", "translations": "Também em"},
}  # fmt: skip
HTML_LANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant"}


def visitor_language(request: HttpRequest) -> str:
    """The help center's language for this visitor: `lang` asked for (in the query, or in a
    posted form), else the browser's Accept-Language, else English."""
    for asked in (request.GET.get("lang", ""), request.POST.get("lang", "")):
        if asked:
            try:
                return language_code(asked)
            except InvalidInput:
                pass
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        try:
            return language_code(code)
        except InvalidInput:
            continue
    return KbLanguage.EN


def language_or_404(language: str) -> str:
    if language not in KbLanguage.values:
        raise Http404("No such language.")
    return language


def _context(request: HttpRequest, language: str, **extra: Any) -> dict[str, Any]:
    return {
        "language": language,
        "html_lang": HTML_LANG.get(language, language),
        "words": WORDS[language],
        "languages": [
            (code, name, reverse("help:home", args=[code])) for code, name in KbLanguage.choices
        ],
        "links": [
            (
                link.text.get(language, link.text.get("en", "")),
                reverse(link.url_name, args=[language]),
            )
            for link in help_center_links()
        ],
        **extra,
    }


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return redirect("help:home", visitor_language(request))


@require_GET
def home(request: HttpRequest, language: str) -> HttpResponse:
    language = language_or_404(language)
    articles = (
        published_articles()
        .filter(language=language)
        .order_by("category__position", "category__name", "published_version__title")[:500]
    )
    groups: dict[str, list[Any]] = {}
    for article in articles:
        name = article.category.name if article.category else WORDS[language]["other"]
        groups.setdefault(name, []).append(article)
    return render(request, "help/home.html", _context(request, language, groups=groups))


@require_GET
def article(request: HttpRequest, language: str, slug: str) -> HttpResponse:
    language = language_or_404(language)
    try:
        found = public_article(language, slug)
    except NotFound as exc:
        raise Http404(str(exc)) from None
    version = found.published_version
    assert version is not None
    translations = [
        (
            other.language,
            KbLanguage(other.language).label,
            reverse("help:article", args=[other.language, other.slug]),
        )
        for other in _translations(found)
    ]
    return render(
        request,
        "help/article.html",
        _context(
            request,
            language,
            article=found,
            title=version.title,
            body=render_markdown(version.body),
            translations=translations,
        ),
    )


def _translations(article: Any) -> list[Any]:
    source = article.translation_of or article
    family = published_articles().filter(translation_of=source) | published_articles().filter(
        pk=source.pk
    )
    return [a for a in family.order_by("language") if a.pk != article.pk]


def _query(request: HttpRequest) -> str:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_CHARS]
    if text_problem(query) is not None:
        raise InvalidInput("The search text is not valid text.")
    return query


def _throttle(request: HttpRequest) -> None:
    ratelimit.hit(
        f"help-search:{request.META.get('REMOTE_ADDR') or 'unknown'}",
        limit=PUBLIC_SEARCH_PER_MINUTE,
        window_seconds=60,
    )


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    language = visitor_language(request)
    try:
        query = _query(request)
        _throttle(request)
    except InvalidInput as exc:
        return render(
            request, "help/search.html", _context(request, language, error=str(exc)), status=400
        )
    except RateLimited as exc:
        response = render(
            request, "help/search.html", _context(request, language, error=str(exc)), status=429
        )
        response["Retry-After"] = "60"
        return response
    results = search_results(query, language, PUBLIC_SEARCH_LIMIT) if query else []
    others = other_results(query, language, PUBLIC_SEARCH_LIMIT) if query else []
    return render(
        request,
        "help/search.html",
        _context(
            request, language, query=query, results=results, others=others, searched=bool(query)
        ),
    )


def other_results(query: str, language: str, limit: int) -> list[PublicHit]:
    """Public documents of the other kinds in the index (community questions), best first, as
    their apps present them (hooks.py)."""
    presenters = search_presenters()
    if not presenters:
        return []
    hits = search(query, languages=[language], kinds=sorted(presenters), limit=limit)
    by_kind: dict[str, list[tuple[int, float]]] = {}
    for hit in hits:
        by_kind.setdefault(hit.kind, []).append((hit.id, hit.score))
    found = [
        shown for kind, pairs in by_kind.items() for shown in presenters[kind].present(pairs, query)
    ]
    return sorted(found, key=lambda shown: -shown.score)


@require_GET
def search_json(request: HttpRequest) -> JsonResponse:
    """The same search as JSON: {"results": [{id, title, language, url, snippet, score}]}."""
    try:
        query = _query(request)
        _throttle(request)
        lang = request.GET.get("lang") or None
        results = search_results(query, lang, PUBLIC_SEARCH_LIMIT) if query else []
    except RateLimited as exc:
        response = JsonResponse({"code": "rate_limited", "detail": str(exc)}, status=429)
        response["Retry-After"] = "60"
        return response
    except InvalidInput as exc:
        return JsonResponse({"code": "invalid", "detail": str(exc)}, status=400)
    return JsonResponse({"results": results})
