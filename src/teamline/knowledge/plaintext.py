"""An article as plain text: what an agent pastes into a reply (SMS and WhatsApp show no
Markdown) and what the widget shows with textContent (no HTML ever reaches a brand's page).

Paragraphs and headings are separated by a blank line, list items start with "- " or "1. ",
a link keeps its address in brackets when the address is not its text, emphasis and code marks
go. The result is cut at a word boundary with "…" when longer than asked."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def _inline(children: list[Any]) -> str:
    out: list[str] = []
    href = ""
    link_text: list[str] = []
    in_link = False
    for token in children:
        if token.type == "link_open":
            in_link = True
            href = str(token.attrGet("href") or "")
            link_text = []
        elif token.type == "link_close":
            text = "".join(link_text)
            out.append(text if not href or href == text else f"{text} ({href})")
            in_link = False
        elif token.type in ("softbreak", "hardbreak"):
            (link_text if in_link else out).append("\n")
        elif token.type in ("text", "code_inline", "image"):
            (link_text if in_link else out).append(token.content)
    return "".join(out)


def markdown_to_text(markdown: str, *, limit: int = 4000) -> str:
    """The article's text without Markdown marks, at most `limit` characters."""
    # (text, kind): a "para" stands alone; "item"s of one list and "row"s of one table sit on
    # consecutive lines; a "break" ends a list or table.
    blocks: list[tuple[str, str]] = []
    lists: list[list[int]] = []  # per open list: [next number] (ordered) or [] (bullets)
    prefix = ""
    cells: list[str] = []
    in_table = False
    for token in _markdown.parse(markdown or ""):
        kind = token.type
        if kind == "bullet_list_open":
            lists.append([])
        elif kind == "ordered_list_open":
            lists.append([int(token.attrGet("start") or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            if lists:
                lists.pop()
            if not lists:
                blocks.append(("", "break"))
        elif kind == "list_item_open":
            indent = "  " * (len(lists) - 1)
            current = lists[-1] if lists else []
            if current:
                prefix = f"{indent}{current[0]}. "
                current[0] += 1
            else:
                prefix = f"{indent}- "
        elif kind == "inline":
            text = _inline(token.children or [])
            if in_table:
                cells.append(text)
                continue
            if lists:
                blocks.append((prefix + text if prefix else "  " * len(lists) + text, "item"))
            else:
                blocks.append((text, "para"))
            prefix = ""
        elif kind in ("fence", "code_block"):
            blocks.append((token.content.rstrip("\n"), "para"))
        elif kind in ("table_open", "table_close"):
            in_table = kind == "table_open"
            blocks.append(("", "break"))
        elif kind == "tr_close":
            blocks.append((" | ".join(cells), "row"))
            cells = []
    text = _join(blocks)
    return _cut(text, limit)


def _join(blocks: list[tuple[str, str]]) -> str:
    lines: list[str] = []
    previous = "break"
    for text, kind in blocks:
        if kind == "break":
            previous = "break"
            continue
        text = text.strip("\n")
        if not text.strip():
            continue
        if lines and not (kind in ("item", "row") and kind == previous):
            lines.append("")
        lines.append(text)
        previous = kind
    return "\n".join(lines).strip()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    piece = text[: max(1, limit - 1)]
    space = piece.rfind(" ")
    if space > limit * 0.6:
        piece = piece[:space]
    return piece.rstrip() + "…"
