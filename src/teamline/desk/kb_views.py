"""The knowledge base on the desk: agents and admins write articles, reviewers publish them.

Pages (all server-rendered forms that work without JavaScript; htmx only fills the preview in
place): the article list with filters and search, the editor (new article, edit, preview,
publish / submit for review / unpublish), the history with a line diff of each version and
"Restore this version", translations ("Translate into …", outdated with what changed in the
source, "Mark as up to date"), suggested edits and the reviewers' queue.

Every write is a knowledge action; every id from a request goes through a knowledge access
helper; the rules (who may publish, restore, decide on a suggestion) are the actions', so a
refusal here is the actions' 403/409 shown as a message on the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from teamline.accounts.models import User
from teamline.core.errors import InvalidInput, NotFound, TeamlineError
from teamline.knowledge.actions import (
    KEEP,
    MAX_BODY,
    MAX_NOTE,
    MAX_TITLE,
    do_accept_suggestion,
    do_create_article,
    do_create_category,
    do_edit_article,
    do_mark_up_to_date,
    do_publish_article,
    do_reject_suggestion,
    do_restore_version,
    do_submit_for_review,
    do_suggest_edit,
    do_unpublish_article,
    is_reviewer,
    language_code,
    may_publish,
    may_restore,
)
from teamline.knowledge.diff import Diff, diff_texts
from teamline.knowledge.models import (
    Article,
    ArticleStatus,
    ArticleVersion,
    Category,
    EditSuggestion,
    KbLanguage,
    SuggestionState,
)
from teamline.knowledge.queries import (
    ArticleFilter,
    access_article,
    access_category,
    access_suggestion,
    access_version,
    base_versions,
    categories,
    decided_suggestions_of,
    filtered_articles,
    open_suggestions,
)
from teamline.knowledge.render import render_markdown
from teamline.knowledge.search import MAX_QUERY_CHARS

from .views import agent_of, announce, desk_view

STATUS_LABELS = {
    ArticleStatus.DRAFT.value: gettext_lazy("Draft"),
    ArticleStatus.REVIEW.value: gettext_lazy("In review"),
    ArticleStatus.PUBLISHED.value: gettext_lazy("Published"),
}
SUGGESTION_LABELS = {
    SuggestionState.OPEN.value: gettext_lazy("Open"),
    SuggestionState.ACCEPTED.value: gettext_lazy("Accepted"),
    SuggestionState.REJECTED.value: gettext_lazy("Rejected"),
}
HISTORY_LIMIT = 200
# The queue shows the oldest open suggestions with their diffs; the count says how many wait.
QUEUE_LIMIT = 30
DECIDED_LIMIT = 20


def _language_name(code: str) -> str:
    return str(KbLanguage(code).label)


def _filters(request: HttpRequest) -> tuple[ArticleFilter, dict[str, str]]:
    """The list's filters from the query string; unknown values are refused (400), not
    ignored, so a bookmarked URL never silently shows something else."""
    actor = agent_of(request)
    raw = {
        key: (request.GET.get(key) or "").strip()
        for key in ("language", "status", "category", "outdated", "q")
    }
    language = raw["language"]
    if language and language not in KbLanguage.values:
        raise InvalidInput(_("Choose a language from the list."))
    if raw["status"] and raw["status"] not in ArticleStatus.values:
        raise InvalidInput(_("Choose a status from the list."))
    category = access_category(actor, raw["category"]) if raw["category"] else None
    query = raw["q"][:MAX_QUERY_CHARS]
    if "\x00" in query:
        raise InvalidInput(_("The search cannot contain NUL characters."))
    wanted = ArticleFilter(
        language=language,
        status=raw["status"],
        category=category,
        outdated=raw["outdated"] == "1",
        query=query,
    )
    return wanted, raw


@require_GET
@desk_view
def kb_articles(request: HttpRequest) -> HttpResponse:
    """Every article, filtered by language, status, category, outdated translations, and
    searched with the help center's search."""
    actor = agent_of(request)
    wanted, raw = _filters(request)
    articles, total = filtered_articles(actor, wanted)
    context = {
        "section": "kb",
        "articles": articles,
        "total": total,
        "filters": raw,
        "filtered": any(raw.values()),
        "languages": KbLanguage.choices,
        "statuses": list(STATUS_LABELS.items()),
        "categories": categories(),
        "status_labels": STATUS_LABELS,
        "waiting": open_suggestions(actor).count(),
    }
    return render(request, "desk/kb_list.html", context)


# --- The editor -----------------------------------------------------------------------------


def _translations(article: Article) -> list[dict[str, Any]]:
    """The article's family in the six languages: each language's article, or None."""
    root = article.translation_of or article
    family = {root.language: root}
    for translation in root.translations.all():
        family[translation.language] = translation
    return [
        {"code": code, "name": name, "article": family.get(code), "root": root}
        for code, name in KbLanguage.choices
    ]


def _source_changes(article: Article) -> Diff | None:
    """For an outdated translation: what changed in its source since it was translated."""
    source = article.translation_of
    if source is None or not article.is_outdated or article.source_version is None:
        return None
    versions = {
        v.number: v
        for v in source.versions.filter(number__in=[article.source_version, source.version])
    }
    old, new = versions.get(article.source_version), versions.get(source.version)
    if old is None or new is None:
        return None
    return diff_texts(old.title, old.body, new.title, new.body)


def _editor_context(request: HttpRequest, article: Article | None, **extra: Any) -> dict[str, Any]:
    actor = agent_of(request)
    context: dict[str, Any] = {
        "section": "kb",
        "article": article,
        "categories": categories(),
        "languages": KbLanguage.choices,
        "status_labels": STATUS_LABELS,
        "max_title": MAX_TITLE,
        "max_body": MAX_BODY,
        "max_note": MAX_NOTE,
        "is_reviewer": is_reviewer(actor),
    }
    if article is not None:
        published = article.published_version
        context.update(
            status_label=STATUS_LABELS[article.status],
            published_number=published.number if published else None,
            newest_published=published is not None and published.number == article.version,
            may_publish=may_publish(article, actor),
            translations=_translations(article),
            source_changes=_source_changes(article),
            open_suggestions=article.suggestions.filter(state=SuggestionState.OPEN).count(),
            form={
                "title": article.title,
                "body": article.body,
                "category": str(article.category_id or ""),
                "requires_review": article.requires_review,
                "language": article.language,
                "note": "",
            },
        )
    context.update(extra)
    return context


def _form_from(request: HttpRequest) -> dict[str, Any]:
    return {
        "title": request.POST.get("title", ""),
        "body": request.POST.get("body", ""),
        "category": request.POST.get("category", ""),
        "new_category": request.POST.get("new_category", ""),
        "requires_review": request.POST.get("requires_review") == "on",
        "language": request.POST.get("language", ""),
        "note": request.POST.get("note", ""),
        "up_to_date": request.POST.get("up_to_date") == "on",
    }


def _category_from(actor: User, form: dict[str, Any]) -> Category | None:
    if form["new_category"].strip():
        return do_create_category(form["new_category"], actor=actor)
    return access_category(actor, form["category"]) if form["category"] else None


def _preview(form: dict[str, Any]) -> str:
    return render_markdown(form["body"][:MAX_BODY])


def _refused(
    request: HttpRequest, template: str, context: dict[str, Any], exc: TeamlineError
) -> HttpResponse:
    context["error"] = exc.message
    return render(request, template, context, status=exc.status)


def _saved_sentence(article: Article, intent: str) -> str:
    if intent == "publish":
        return _("Version %(number)s saved and published.") % {"number": article.version}
    return _("Version %(number)s saved. The help center still shows %(public)s.") % {
        "number": article.version,
        "public": (
            _("version %(number)s") % {"number": article.published_version.number}
            if article.published_version
            else _("nothing (not published)")
        ),
    }


@require_http_methods(["GET", "POST"])
@desk_view
def kb_new(request: HttpRequest) -> HttpResponse:
    """A new article (version 1): saved as a draft, or published at once when the author may."""
    actor = agent_of(request)
    if request.method != "POST":
        language = request.GET.get("language", "")
        fresh = {"language": language if language in KbLanguage.values else "en"}
        return render(request, "desk/kb_editor.html", _editor_context(request, None, form=fresh))
    form = _form_from(request)
    intent = request.POST.get("intent", "save")
    context = _editor_context(request, None, form=form)
    if intent == "preview":
        return render(request, "desk/kb_editor.html", {**context, "preview": _preview(form)})
    try:
        article = do_create_article(
            actor=actor,
            title=form["title"],
            body=form["body"],
            language=language_code(form["language"]),
            publish=intent == "publish",
            category=_category_from(actor, form),
            requires_review=form["requires_review"],
        )
    except TeamlineError as exc:
        return _refused(request, "desk/kb_editor.html", context, exc)
    flash.success(request, _saved_sentence(article, intent))
    return redirect("desk:kb_article", article_id=article.pk)


@require_http_methods(["GET", "POST"])
@desk_view
def kb_article(request: HttpRequest, article_id: int) -> HttpResponse:
    """The editor: every save is a new version; `intent` says save, publish or preview."""
    actor = agent_of(request)
    article = access_article(actor, article_id)
    if request.method != "POST":
        return render(request, "desk/kb_editor.html", _editor_context(request, article))
    form = _form_from(request)
    form["language"] = article.language
    intent = request.POST.get("intent", "save")
    context = _editor_context(request, article, form=form)
    if intent == "preview":
        return render(request, "desk/kb_editor.html", {**context, "preview": _preview(form)})
    try:
        article = do_edit_article(
            article,
            actor=actor,
            title=form["title"],
            body=form["body"],
            note=form["note"],
            publish=intent == "publish",
            translated_from_current_source=form["up_to_date"],
            category=_category_from(actor, form) if "category" in request.POST else KEEP,
            requires_review=form["requires_review"],
        )
    except TeamlineError as exc:
        return _refused(request, "desk/kb_editor.html", context, exc)
    flash.success(request, _saved_sentence(article, intent))
    return redirect("desk:kb_article", article_id=article.pk)


@require_POST
@desk_view
def kb_preview(request: HttpRequest) -> HttpResponse:
    """The body as the help center will show it (htmx fills the editor's preview region)."""
    form = _form_from(request)
    if form["language"] not in KbLanguage.values:
        form["language"] = ""
    response = render(request, "desk/_kb_preview.html", {"preview": _preview(form), "form": form})
    return announce(response, _("Preview updated below the form."))


ARTICLE_ACTIONS = {
    "publish": (do_publish_article, gettext_lazy("Version %(number)s is published.")),
    "submit": (
        do_submit_for_review,
        gettext_lazy("Version %(number)s is waiting for a reviewer."),
    ),
    "unpublish": (
        do_unpublish_article,
        gettext_lazy("The article is no longer on the help center."),
    ),
    "up-to-date": (
        do_mark_up_to_date,
        gettext_lazy("The translation is marked as up to date with its source."),
    ),
}


@require_POST
@desk_view
def kb_article_action(request: HttpRequest, article_id: int, action: str) -> HttpResponse:
    """Publish, submit for review, unpublish, mark a translation up to date."""
    actor = agent_of(request)
    article = access_article(actor, article_id)
    do, sentence = ARTICLE_ACTIONS[action]
    try:
        article = do(article, actor=actor)
    except TeamlineError as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, str(sentence) % {"number": article.version})
    return redirect("desk:kb_article", article_id=article.pk)


# --- History --------------------------------------------------------------------------------


@require_GET
@desk_view
def kb_history(request: HttpRequest, article_id: int) -> HttpResponse:
    actor = agent_of(request)
    article = access_article(actor, article_id)
    versions = article.versions.select_related("author").order_by("-number")[:HISTORY_LIMIT]
    context = {
        "section": "kb",
        "article": article,
        "versions": versions,
        "published_number": (
            article.published_version.number if article.published_version else None
        ),
        "may_restore": may_restore(article, actor),
    }
    return render(request, "desk/kb_history.html", context)


def _version_diff(article: Article, version: ArticleVersion) -> Diff:
    before = article.versions.filter(number__lt=version.number).order_by("-number").first()
    if before is None:  # the first version: every line is new (and the title is not news)
        return diff_texts(version.title, "", version.title, version.body)
    return diff_texts(before.title, before.body, version.title, version.body)


@require_GET
@desk_view
def kb_version(request: HttpRequest, article_id: int, number: int) -> HttpResponse:
    """One version: what changed from the version before it."""
    actor = agent_of(request)
    article = access_article(actor, article_id)
    version = access_version(article, number)
    context = {
        "section": "kb",
        "article": article,
        "version": version,
        "diff": _version_diff(article, version),
        "newer": version.number + 1 if version.number < article.version else None,
        "older": version.number - 1 if version.number > 1 else None,
        "may_restore": may_restore(article, actor) and version.number != article.version,
    }
    return render(request, "desk/kb_version.html", context)


@require_POST
@desk_view
def kb_restore(request: HttpRequest, article_id: int, number: int) -> HttpResponse:
    actor = agent_of(request)
    article = access_article(actor, article_id)
    version = access_version(article, number)
    try:
        article = do_restore_version(article, version.number, actor=actor)
    except TeamlineError as exc:
        flash.error(request, exc.message)
        return redirect("desk:kb_version", article_id=article.pk, number=version.number)
    flash.success(
        request,
        _("Version %(old)s restored as version %(number)s.")
        % {"old": version.number, "number": article.version},
    )
    return redirect("desk:kb_history", article_id=article.pk)


# --- Translations ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@desk_view
def kb_translate(request: HttpRequest, article_id: int, language: str) -> HttpResponse:
    """A new translation of the article (of its source, when it is itself a translation)."""
    actor = agent_of(request)
    article = access_article(actor, article_id)
    source = article.translation_of or article
    if language not in KbLanguage.values:
        raise NotFound(_("No such language."))
    context: dict[str, Any] = {
        "section": "kb",
        "source": source,
        "language": language,
        "language_name": _language_name(language),
        "max_title": MAX_TITLE,
        "max_body": MAX_BODY,
        "form": {"title": source.title, "body": source.body},
    }
    if request.method != "POST":
        return render(request, "desk/kb_translate.html", context)
    form = _form_from(request)
    context["form"] = form
    try:
        translation = do_create_article(
            actor=actor,
            title=form["title"],
            body=form["body"],
            language=language,
            category=source.category,
            translation_of=source,
        )
    except TeamlineError as exc:
        return _refused(request, "desk/kb_translate.html", context, exc)
    flash.success(
        request,
        _("Translation into %(language)s saved as a draft.")
        % {"language": context["language_name"]},
    )
    return redirect("desk:kb_article", article_id=translation.pk)


# --- Suggested edits ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@desk_view
def kb_suggest(request: HttpRequest, article_id: int) -> HttpResponse:
    """Any agent proposes a change to a published article; a reviewer decides."""
    actor = agent_of(request)
    article = access_article(actor, article_id)
    context: dict[str, Any] = {
        "section": "kb",
        "article": article,
        "max_title": MAX_TITLE,
        "max_body": MAX_BODY,
        "max_note": MAX_NOTE,
        "form": {"title": article.title, "body": article.body, "note": ""},
        "base_version": article.version,
    }
    if request.method != "POST":
        return render(request, "desk/kb_suggest.html", context)
    form = _form_from(request)
    context["form"] = form
    base = request.POST.get("base_version", "")
    try:
        suggestion = do_suggest_edit(
            article,
            actor=actor,
            title=form["title"],
            body=form["body"],
            note=form["note"],
            base_version=int(base) if base.isdigit() and len(base) < 10 else None,
        )
    except TeamlineError as exc:
        return _refused(request, "desk/kb_suggest.html", context, exc)
    flash.success(request, _("Your suggestion was sent to the reviewers."))
    return redirect("desk:kb_suggestion", suggestion_id=suggestion.pk)


@require_GET
@desk_view
def kb_suggestions(request: HttpRequest) -> HttpResponse:
    """The reviewers' queue: open suggestions, oldest first (agents see it too, to follow
    theirs)."""
    actor = agent_of(request)
    waiting = list(open_suggestions(actor)[:QUEUE_LIMIT])
    bases = base_versions(waiting)
    queue = []
    for suggestion in waiting:
        base = bases.get((suggestion.article_id, suggestion.base_version))
        before = (base.title, base.body) if base else ("", "")
        queue.append(
            {
                "suggestion": suggestion,
                "diff": diff_texts(*before, suggestion.title, suggestion.body),
                "moved_on": suggestion.article.version != suggestion.base_version,
                "diff_id": f"kb-queue-diff-{suggestion.pk}",
            }
        )
    context = {
        "section": "kb",
        "queue": queue,
        "total": open_suggestions(actor).count(),
        "decided": list(decided_suggestions_of(actor)[:DECIDED_LIMIT]),
        "suggestion_labels": SUGGESTION_LABELS,
        "is_reviewer": is_reviewer(actor),
    }
    return render(request, "desk/kb_suggestions.html", context)


def _suggestion_context(request: HttpRequest, suggestion: EditSuggestion) -> dict[str, Any]:
    actor = agent_of(request)
    article = suggestion.article
    base = article.versions.filter(number=suggestion.base_version).first()
    base_title, base_body = (base.title, base.body) if base else ("", "")
    moved_on = (
        suggestion.state == SuggestionState.OPEN and article.version != suggestion.base_version
    )
    return {
        "section": "kb",
        "suggestion": suggestion,
        "article": article,
        "state_label": SUGGESTION_LABELS[suggestion.state],
        "diff": diff_texts(base_title, base_body, suggestion.title, suggestion.body),
        "moved_on": moved_on,
        "article_changes": (
            diff_texts(base_title, base_body, article.title, article.body) if moved_on else None
        ),
        "may_decide": is_reviewer(actor) and suggestion.state == SuggestionState.OPEN,
        "max_note": MAX_NOTE,
    }


@require_GET
@desk_view
def kb_suggestion(request: HttpRequest, suggestion_id: int) -> HttpResponse:
    suggestion = access_suggestion(agent_of(request), suggestion_id)
    return render(request, "desk/kb_suggestion.html", _suggestion_context(request, suggestion))


@require_POST
@desk_view
def kb_decide(request: HttpRequest, suggestion_id: int, decision: str) -> HttpResponse:
    """Accept (optionally over newer changes, after seeing them) or reject a suggestion."""
    actor = agent_of(request)
    suggestion = access_suggestion(actor, suggestion_id)
    try:
        if decision == "accept":
            seen = request.POST.get("seen_version", "")
            suggestion = do_accept_suggestion(
                suggestion,
                actor=actor,
                overwrite=request.POST.get("overwrite") == "1",
                seen_version=int(seen) if seen.isdigit() and len(seen) < 10 else None,
            )
            sentence = _("Suggestion accepted: version %(number)s is published.") % {
                "number": suggestion.accepted_version
            }
            if suggestion.article.published_version_id is None:
                sentence = _("Suggestion accepted as version %(number)s.") % {
                    "number": suggestion.accepted_version
                }
        else:
            suggestion = do_reject_suggestion(
                suggestion, actor=actor, note=request.POST.get("note", "")
            )
            sentence = _("Suggestion rejected.")
    except TeamlineError as exc:
        context = _suggestion_context(request, access_suggestion(actor, suggestion.pk))
        return _refused(request, "desk/kb_suggestion.html", context, exc)
    flash.success(request, sentence)
    return redirect("desk:kb_suggestions")
