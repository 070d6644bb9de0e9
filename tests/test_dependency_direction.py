"""The dependency direction of docs/adr/0005-dependency-direction.md, read from the source.

Every module of src/teamline is parsed with `ast` (nothing is imported). A module may import
an app of its own layer's rank or lower, never a higher one, and a cross-app import sits at the
top of the module — not inside a function, where it would hide a cycle. The only deferred
imports allowed are the ones Django forces: inside an AppConfig.ready (models are not loaded
before), and type-only imports under `if TYPE_CHECKING:`, which still must point down.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "teamline"

# Lower rank first. Apps on one rank do not import each other unless SIBLING_EDGES says so.
RANKS: dict[str, int] = {
    "core": 0,
    "accounts": 1,
    "audit": 1,
    "teams": 2,
    "customers": 3,
    # Single sign-on makes users and sets their role (accounts) and teams (teams) from their
    # identity provider's groups; nothing below imports it.
    "sso": 3,
    "conversations": 4,
    "analytics": 5,
    "knowledge": 5,
    # Canned replies read conversations (customer, team) and teams' hours to fill a reply in.
    "replies": 5,
    "routing": 6,
    "connectors": 6,
    "calls": 6,
    "selfservice": 6,
    "proactive": 6,
    "community": 6,
    # Search indexes conversations' messages and customers; privacy erases from it, the desk
    # and the API search through it.
    "search": 6,
    # Surveys ask after a resolution on the customer's channel (conversations' system
    # messages and hooks) and count the answers in analytics.
    "surveys": 6,
    # Wellbeing scores customer messages (a conversations hook), reads presence history
    # (accounts) and handle times (analytics' contact facts) for the agents' signals.
    "wellbeing": 6,
    # Export and erasure read and clear a customer's records in every app that holds them.
    "privacy": 7,
    "desk": 8,
    "widget": 8,
    "api": 8,  # teamline/api.py and every app's JSON endpoints (<app>/api.py, app_api.py)
    "root": 9,  # urls, asgi, cli, settings: they compose everything
}
API_MODULES = {"api.py", "app_api.py"}
# Self-service runs flows over channels and hands customers to their team's queue (the phone
# IVR: selfservice/ivr.py answers the voice connector's calls and creates routing work).
# Calls control live calls through the voice provider (connectors/voice_rest.py) and ring the
# agent routing assigned the call's conversation to; the IVR puts its callers on calls.
# Accounts audits its own security events (tokens, sign-in failures) in the same transaction;
# the audit log names users by id and knows nothing of accounts.
# The community sends a customer's sign-in code at once through the connector that reaches
# their address (connectors/direct.py): never through the outbox, where the code would be
# stored in clear in a message.
# Outages are proactive's knowledge: the bots and the IVR say "we know about it" first, routing
# tags contacts from an outage's region and names it as a surge's cause, so both read
# proactive's active outages (proactive imports neither: it counts contacts from the messages).
SIBLING_EDGES: set[tuple[str, str]] = {
    ("selfservice", "proactive"),
    ("routing", "proactive"),
    ("accounts", "audit"),
    ("community", "connectors"),
    ("selfservice", "connectors"),
    ("selfservice", "routing"),
    ("selfservice", "calls"),
    ("calls", "connectors"),
    ("calls", "routing"),
}

# Known exceptions, each with the reason it is not fixed yet. The test fails when one is no
# longer needed, so this list only shrinks.
KNOWN: dict[tuple[str, str], str] = {
    (
        "core/testing.py",
        "*",
    ): "the test factories build on every app's actions; they belong above every app",
}


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    imported: str
    problem: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.problem}"


def layer_of(relative: Path) -> str:
    if len(relative.parts) == 1:
        return "api" if relative.name in API_MODULES else "root"
    app = relative.parts[0]
    if app == "settings":
        return "root"
    if relative.name in API_MODULES and len(relative.parts) == 2:
        return "api"
    return app


def app_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "teamline" or len(parts) < 2:
        return None
    if len(parts) == 2 and parts[1] == "api":
        return "api"
    if parts[1] in RANKS:
        return parts[1]
    return "root"


def _imports(tree: ast.Module) -> list[tuple[ast.stmt, str, str]]:
    """(node, imported module, where) for every absolute teamline import; `where` is "top",
    "type-checking", "ready" or "nested"."""
    found: list[tuple[ast.stmt, str, str]] = []

    def names(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "teamline":
                return [f"teamline.{alias.name}" for alias in node.names]
            return [node.module]
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        return []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((child, name, where) for name in names(child))
                continue
            inner = where  # "nested", "ready" and "type-checking" hold for everything inside
            if where == "top":
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    inner = "type-checking"
                elif isinstance(child, ast.ClassDef):
                    inner = "class"
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    inner = "nested"
            elif where == "class":
                is_ready = isinstance(child, ast.FunctionDef) and child.name == "ready"
                inner = "ready" if is_ready else "nested"
            visit(child, inner)

    visit(tree, "top")
    return found


def findings() -> list[Finding]:
    problems: list[Finding] = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if "migrations" in relative.parts:
            continue
        layer = layer_of(relative)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node, imported, where in _imports(tree):
            target = app_of(imported)
            if target is None or target == layer or (layer == "api" and target == "api"):
                continue
            if relative.parts[0] == imported.split(".")[1] and layer == "api":
                continue  # an app's endpoints use their own app
            module = relative.as_posix()
            if RANKS[target] > RANKS[layer] or (
                RANKS[target] == RANKS[layer] and (layer, target) not in SIBLING_EDGES
            ):
                problems.append(Finding(module, node.lineno, imported, f"{layer} is below"))
            elif where == "nested" or (where == "ready" and path.name != "apps.py"):
                problems.append(Finding(module, node.lineno, imported, "not at module top"))
    return problems


def _known(finding: Finding) -> tuple[str, str] | None:
    for module, imported in KNOWN:
        if finding.module == module and imported in ("*", finding.imported):
            return module, imported
    return None


def test_apps_import_only_downwards_and_at_the_top_of_modules():
    unexplained = [str(f) for f in findings() if _known(f) is None]
    assert unexplained == [], "\n".join(unexplained)


def test_every_known_exception_is_still_needed():
    used = {_known(f) for f in findings()}
    stale = [
        f"{module} → {imported}" for module, imported in KNOWN if (module, imported) not in used
    ]
    assert stale == [], "fixed: remove from KNOWN: " + ", ".join(stale)


def test_the_checker_catches_an_upward_import_and_a_hidden_one(tmp_path, monkeypatch):
    """The rule itself is tested on a small fake tree: a lower app importing a higher one, and
    a function-level import between apps, are both reported; a TYPE_CHECKING import downwards
    and an AppConfig.ready import are not."""
    fake = tmp_path / "teamline"
    (fake / "conversations").mkdir(parents=True)
    (fake / "routing").mkdir()
    (fake / "conversations" / "actions.py").write_text(
        "from teamline.routing.actions import route\n"
    )
    (fake / "routing" / "actions.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from teamline.customers.models import Customer\n"
        "def route():\n"
        "    from teamline.conversations.events import record\n"
    )
    (fake / "routing" / "apps.py").write_text(
        "class RoutingConfig:\n"
        "    def ready(self):\n"
        "        from teamline.conversations.hooks import provide_routing\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["SRC"]), "SRC", fake)
    reported = {(f.module, f.imported, f.problem) for f in findings()}
    assert reported == {
        ("conversations/actions.py", "teamline.routing.actions", "conversations is below"),
        ("routing/actions.py", "teamline.conversations.events", "not at module top"),
    }
