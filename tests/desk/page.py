"""Read a rendered desk page the way assistive technology does: controls by role and name.

A deliberately small HTML reader (standard library only) so the tests can say
`page.button("Send reply")` or `page.field("Reply")` instead of matching markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip
LANDMARKS = {"header": "banner", "nav": "navigation", "main": "main", "aside": "complementary"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)

    def spoken_text(self) -> str:
        """What assistive technology reads: a decoration hidden from it (aria-hidden) is not."""
        return "".join(
            c if isinstance(c, str) else c.spoken_text()
            for c in self.children
            if isinstance(c, str) or c.get("aria-hidden") != "true"
        )

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", self.raw_text()).strip()

    @property
    def role(self) -> str:
        if "role" in self.attrs:
            return self.attrs["role"]
        if self.tag == "a" and "href" in self.attrs:
            return "link"
        if self.tag == "button":
            return "button"
        if self.tag == "textarea" or (self.tag == "input" and self.get("type", "text") == "text"):
            return "textbox"
        if self.tag == "select":
            return "combobox"
        if re.fullmatch(r"h[1-6]", self.tag):
            return "heading"
        return LANDMARKS.get(self.tag, self.tag)

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [
            node
            for node in self.iter()
            if (tag is None or node.tag == tag)
            and all(node.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>{self.text[:60]}"


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


class Page:
    def __init__(self, html: str | bytes) -> None:
        builder = _Builder()
        builder.feed(html.decode() if isinstance(html, bytes) else html)
        self.root = builder.root
        self.html = html.decode() if isinstance(html, bytes) else html

    # --- Lookup -----------------------------------------------------------------------

    def by_id(self, element_id: str) -> Node | None:
        for node in self.root.iter():
            if node.get("id") == element_id:
                return node
        return None

    def name_of(self, node: Node) -> str:
        """The accessible name, as far as the desk's markup needs it."""
        if ids := node.get("aria-labelledby"):
            parts = [self.by_id(i) for i in ids.split()]
            return " ".join(p.text for p in parts if p is not None)
        if label := node.get("aria-label"):
            return label
        if node.tag in {"input", "select", "textarea"} and node.get("id"):
            for label_node in self.root.find_all("label"):
                if label_node.get("for") == node.get("id"):
                    return label_node.text
            return ""
        return re.sub(r"\s+", " ", node.spoken_text()).strip()

    def all(self, role: str, name: str | None = None) -> list[Node]:
        return [
            node
            for node in self.root.iter()
            if node.role == role and (name is None or self.name_of(node) == name)
        ]

    def h1(self) -> Node:
        """The page's one h1 (on the three-pane desk it leads main, after the list pane)."""
        found = [node for node in self.root.iter() if node.tag == "h1"]
        assert len(found) == 1, f"expected one h1, found {len(found)}"
        return found[0]

    def one(self, role: str, name: str) -> Node:
        found = self.all(role, name)
        names = [self.name_of(n) for n in self.all(role)]
        assert len(found) == 1, f"expected one {role} named {name!r}, found {len(found)}: {names}"
        return found[0]

    def link(self, name: str) -> Node:
        return self.one("link", name)

    def button(self, name: str) -> Node:
        return self.one("button", name)

    def field(self, label: str) -> Node:
        found = [
            n
            for n in self.root.iter()
            if n.tag in {"input", "select", "textarea"} and self.name_of(n) == label
        ]
        assert len(found) == 1, f"expected one field labelled {label!r}, found {len(found)}"
        return found[0]

    def region(self, role: str, name: str) -> Node:
        return self.one(role, name)

    def options(self, label: str) -> list[str]:
        return [o.text for o in self.field(label).find_all("option")]

    def alerts(self) -> list[str]:
        return [n.text for n in self.root.iter() if n.get("role") == "alert"]

    def links_starting_with(self, prefix: str) -> list[Node]:
        return [n for n in self.all("link") if self.name_of(n).startswith(prefix)]

    @property
    def text(self) -> str:
        return self.root.text

    def form_of(self, node: Node) -> Node:
        parent = node.parent
        while parent is not None and parent.tag != "form":
            parent = parent.parent
        assert parent is not None, f"{node!r} is not in a form"
        return parent
