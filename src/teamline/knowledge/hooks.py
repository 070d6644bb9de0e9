"""What the help center's search asks of the apps above knowledge, filled in at start-up.

Knowledge's search index holds documents of other kinds beside its articles (search.py:
`index_document`); it never imports the apps that own them (docs/adr/0005). To show their hits
in the help center's search results it needs each kind's public title, URL and snippet: one
presenter per kind, provided in the owning app's AppConfig.ready (the community provides
"question"). A kind without a presenter is simply not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PublicHit:
    """One search hit as the help center shows it, whatever its kind."""

    kind: str
    id: int
    title: str
    language: str
    url: str
    snippet: str
    score: float


class SearchPresenter(Protocol):
    def present(self, ids_and_scores: list[tuple[int, float]], query: str) -> list[PublicHit]: ...


_presenters: dict[str, SearchPresenter] = {}


def provide_search_presenter(kind: str, presenter: SearchPresenter) -> None:
    _presenters[kind] = presenter


def search_presenters() -> dict[str, SearchPresenter]:
    """The kinds other apps show in the help center's search, with their presenters."""
    return dict(_presenters)


@dataclass(frozen=True)
class HelpCenterLink:
    """A link in the help center's header to a part another app serves (the community):
    its text per help-center language, and the name of a URL that takes the language."""

    text: dict[str, str]
    url_name: str


_links: list[HelpCenterLink] = []


def provide_help_center_link(link: HelpCenterLink) -> None:
    if link not in _links:
        _links.append(link)


def help_center_links() -> list[HelpCenterLink]:
    return list(_links)
