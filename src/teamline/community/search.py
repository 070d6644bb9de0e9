"""The community in the help center's search: each question is one document of kind
"question" in knowledge's index (knowledge/search.py), its text the question with its visible
answers, public while the question is visible. Indexed inside the transaction that changes
what it holds (asking, answering, hiding, unhiding, moving to a conversation), so search never
shows a hidden post; presented to the help center's search page through knowledge/hooks.py."""

from __future__ import annotations

from django.urls import reverse

from teamline.knowledge.hooks import PublicHit
from teamline.knowledge.search import QUESTION, index_document, snippet

from .models import Post, PostKind


def document_text(question: Post) -> str:
    answers = question.answers.filter(hidden=False).order_by("-official", "-score", "pk")
    return "\n\n".join([question.body, *answers.values_list("body", flat=True)])


def index_question(question: Post) -> None:
    """Make search see `question` as it is now: its title, text and visible answers; public
    only while the question is visible."""
    if question.kind != PostKind.QUESTION:
        return
    index_document(
        QUESTION,
        question.pk,
        question.language,
        question.title,
        document_text(question),
        public=not question.hidden,
    )


class QuestionPresenter:
    """Visible questions for the hits (a hit for a question hidden since is dropped)."""

    def present(self, ids_and_scores: list[tuple[int, float]], query: str) -> list[PublicHit]:
        questions = Post.objects.filter(kind=PostKind.QUESTION, hidden=False).in_bulk(
            [pk for pk, _score in ids_and_scores]
        )
        found = []
        for pk, score in ids_and_scores:
            question = questions.get(pk)
            if question is None:
                continue
            found.append(
                PublicHit(
                    kind=QUESTION,
                    id=pk,
                    title=question.title,
                    language=question.language,
                    url=reverse("community:question", args=[pk]),
                    snippet=snippet(question.body, query),
                    score=score,
                )
            )
        return found
