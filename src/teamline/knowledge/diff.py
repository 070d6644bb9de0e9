"""What changed between two texts of an article, line by line (difflib), for the history, the
review of a suggestion and an outdated translation's "what changed in the source since".

The result is data, not markup: the desk renders it as a table whose rows say "added",
"removed" or "unchanged" in words, so a screen reader announces the change, not just a colour.
Long unchanged stretches are folded into one "N unchanged lines" row."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

CONTEXT_LINES = 3
# The most rows a diff shows (a page stays readable and fast; the counts cover every line).
MAX_ROWS = 2000


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed", "same", or "skipped" (a folded unchanged stretch)
    old: int | None  # its line number before (1-based), None for an added line
    new: int | None  # its line number after, None for a removed line
    text: str
    skipped: int = 0  # for "skipped": how many unchanged lines it stands for


@dataclass(frozen=True)
class Diff:
    title_before: str
    title_after: str
    lines: list[DiffLine] = field(default_factory=list)
    added: int = 0
    removed: int = 0
    not_shown: int = 0  # rows left out after MAX_ROWS

    @property
    def title_changed(self) -> bool:
        return self.title_before != self.title_after

    @property
    def changed(self) -> bool:
        return self.title_changed or bool(self.added or self.removed)


def diff_texts(
    title_before: str,
    body_before: str,
    title_after: str,
    body_after: str,
    *,
    context: int = CONTEXT_LINES,
    max_rows: int = MAX_ROWS,
) -> Diff:
    """The line diff of two bodies (and whether the title changed), unchanged stretches longer
    than `context` lines on either side of a change folded, at most `max_rows` rows."""
    old, new = body_before.splitlines(), body_after.splitlines()
    if old == new:
        return Diff(title_before, title_after)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    lines: list[DiffLine] = []
    shown_to = 0  # the old line index up to which rows have been produced
    for group in matcher.get_grouped_opcodes(context):
        start = group[0][1]
        if start > shown_to:
            lines.append(DiffLine("skipped", None, None, "", skipped=start - shown_to))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(
                    DiffLine("same", i + 1, j + 1, old[i])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            if tag in ("replace", "delete"):
                lines.extend(DiffLine("removed", i + 1, None, old[i]) for i in range(i1, i2))
            if tag in ("replace", "insert"):
                lines.extend(DiffLine("added", None, j + 1, new[j]) for j in range(j1, j2))
        shown_to = group[-1][2]
    if lines and shown_to < len(old):
        lines.append(DiffLine("skipped", None, None, "", skipped=len(old) - shown_to))
    return Diff(
        title_before,
        title_after,
        lines[:max_rows],
        added=sum(1 for line in lines if line.kind == "added"),
        removed=sum(1 for line in lines if line.kind == "removed"),
        not_shown=max(0, len(lines) - max_rows),
    )
