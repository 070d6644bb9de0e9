"""WhatsApp message templates: what a synced template asks for, and the message that fills it.

Meta lists a WhatsApp Business Account's templates at
`GET /{version}/{waba id}/message_templates` (fields name, language, status, category,
parameter_format, components; paged by `paging.next`). A template's components are a HEADER
(format TEXT, IMAGE, VIDEO, DOCUMENT or LOCATION), a BODY, a FOOTER and BUTTONS. Its
variables are `{{1}}`, `{{2}}`… (parameter_format POSITIONAL) or `{{first_name}}` (NAMED), in
the header text, the body text and a URL button's URL. Sending one is a `type: "template"`
message whose `components` carry one text parameter per variable, in order (named ones with
their `parameter_name`). The Cloud API refuses a parameter with a new line, a tab or more than
four spaces in a row (error 132018), a header parameter over 60 characters and a body over
1,024; so does build_template, before anything is stored.

Templates Teamline cannot fill yet (a media or location header, a button variable other than a
URL's) are listed with the reason and cannot be chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from teamline.core.errors import InvalidInput

from .models import WhatsAppTemplate

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_BAD_SPACING = re.compile(r"[\n\t\x00]| {5,}")
HEADER_MAX = 60
BODY_MAX = 1024
PARAMETER_MAX = 1024  # a body parameter; the body as sent is checked against BODY_MAX too


@dataclass(frozen=True)
class TemplateParameter:
    """One variable to fill: `key` names it in forms and the API ("body.1", "header.1",
    "button.0.1", "body.first_name")."""

    key: str
    component: str  # header, body, button
    name: str  # "1", "2"… or the named variable
    button_index: int | None
    example: str

    @property
    def label(self) -> str:
        where = {
            "header": _("header"),
            "body": _("body"),
            "button": _("button link"),
        }[self.component]
        return _("{{%(name)s}} in the %(where)s") % {"name": self.name, "where": where}


def _components(components: Any) -> list[dict[str, Any]]:
    return [c for c in components if isinstance(c, dict)] if isinstance(components, list) else []


def _examples(component: dict[str, Any], kind: str) -> dict[str, str]:
    """The examples Meta keeps with a template (shown as hints), by variable name."""
    example = component.get("example")
    if not isinstance(example, dict):
        return {}
    named = example.get(f"{kind}_text_named_params")
    if isinstance(named, list):
        return {
            str(item.get("param_name")): str(item.get("example") or "")
            for item in named
            if isinstance(item, dict)
        }
    values = example.get(f"{kind}_text")
    if isinstance(values, list) and values and isinstance(values[0], list):
        values = values[0]
    if isinstance(values, list):
        return {str(i + 1): str(v) for i, v in enumerate(values)}
    return {}


def _variables(text: str) -> list[str]:
    seen: list[str] = []
    for name in _VARIABLE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def parameters_of(components: Any) -> list[TemplateParameter]:
    """The variables of a template's components, in the order they are sent."""
    found: list[TemplateParameter] = []
    for component in _components(components):
        kind = str(component.get("type") or "").upper()
        if kind == "HEADER" and str(component.get("format") or "TEXT").upper() == "TEXT":
            examples = _examples(component, "header")
            for name in _variables(str(component.get("text") or "")):
                found.append(
                    TemplateParameter(
                        f"header.{name}", "header", name, None, examples.get(name, "")
                    )
                )
        elif kind == "BODY":
            examples = _examples(component, "body")
            for name in _variables(str(component.get("text") or "")):
                found.append(
                    TemplateParameter(f"body.{name}", "body", name, None, examples.get(name, ""))
                )
        elif kind == "BUTTONS":
            for index, button in enumerate(_components(component.get("buttons"))):
                if str(button.get("type") or "").upper() != "URL":
                    continue
                example = button.get("example")
                hint = str(example[0]) if isinstance(example, list) and example else ""
                for name in _variables(str(button.get("url") or "")):
                    found.append(
                        TemplateParameter(f"button.{index}.{name}", "button", name, index, hint)
                    )
    return found


def unsupported_reason(components: Any) -> str:
    """Why Teamline cannot send this template (empty: it can)."""
    for component in _components(components):
        kind = str(component.get("type") or "").upper()
        header_format = str(component.get("format") or "TEXT").upper()
        if kind == "HEADER" and header_format != "TEXT":
            return _("its header is a %(format)s, which Teamline cannot attach yet") % {
                "format": header_format.lower()
            }
        if kind == "BUTTONS":
            for button in _components(component.get("buttons")):
                button_type = str(button.get("type") or "").upper()
                fields = " ".join(str(v) for v in button.values() if isinstance(v, str))
                if button_type != "URL" and _VARIABLE.search(fields):
                    return _("its %(type)s button needs a value Teamline cannot fill yet") % {
                        "type": button_type.lower()
                    }
    return ""


def body_text(components: Any) -> str:
    """The template as the customer reads it, variables left as written: header, body, footer."""
    parts = []
    for component in _components(components):
        kind = str(component.get("type") or "").upper()
        if kind in ("HEADER", "BODY", "FOOTER") and component.get("text"):
            parts.append(str(component["text"]))
    return "\n\n".join(parts)


def _fill(text: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def build_template(
    *,
    name: str,
    language: str,
    components: Any,
    parameter_format: str,
    values: dict[str, str],
) -> tuple[dict[str, Any], str]:
    """(the Cloud API `template` object, the text the customer will read) for the template
    filled with `values` by parameter key. InvalidInput names the first problem: a variable
    left empty, a value the Cloud API refuses, a key the template does not have."""
    reason = unsupported_reason(components)
    if reason:
        raise InvalidInput(_("This template cannot be sent from Teamline: %s.") % reason)
    parameters = parameters_of(components)
    known = {p.key for p in parameters}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInput(
            _("This template has no parameter %(keys)s.") % {"keys": ", ".join(unknown)}
        )
    named = parameter_format.upper() == "NAMED"
    by_component: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    filled: dict[str, dict[str, str]] = {"header": {}, "body": {}}
    for parameter in parameters:
        value = str(values.get(parameter.key) or "").strip()
        if not value:
            raise InvalidInput(_("Fill in %(label)s.") % {"label": parameter.label})
        if _BAD_SPACING.search(value):
            raise InvalidInput(
                _(
                    "%(label)s: WhatsApp does not accept new lines, tabs or more than four "
                    "spaces in a row in a parameter."
                )
                % {"label": parameter.label}
            )
        limit = HEADER_MAX if parameter.component == "header" else PARAMETER_MAX
        if len(value) > limit:
            raise InvalidInput(
                _("%(label)s: at most %(limit)d characters.")
                % {"label": parameter.label, "limit": limit}
            )
        item: dict[str, Any] = {"type": "text", "text": value}
        if named and parameter.component != "button":
            item["parameter_name"] = parameter.name
        by_component.setdefault((parameter.component, parameter.button_index), []).append(item)
        if parameter.component in filled:
            filled[parameter.component][parameter.name] = value
    sent_components: list[dict[str, Any]] = []
    for (component, index), items in by_component.items():
        entry: dict[str, Any] = {"type": component, "parameters": items}
        if component == "button":
            entry.update(sub_type="url", index=str(index))
        sent_components.append(entry)
    text_parts = []
    for part in _components(components):
        kind = str(part.get("type") or "").upper()
        if kind in ("HEADER", "BODY", "FOOTER") and part.get("text"):
            text_parts.append(_fill(str(part["text"]), filled.get(kind.lower(), {})))
    text = "\n\n".join(text_parts)
    body = next(
        (
            _fill(str(c.get("text") or ""), filled["body"])
            for c in _components(components)
            if str(c.get("type") or "").upper() == "BODY"
        ),
        "",
    )
    if len(body) > BODY_MAX:
        raise InvalidInput(
            _("The filled-in template is longer than %(limit)d characters.") % {"limit": BODY_MAX}
        )
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if sent_components:
        template["components"] = sent_components
    return template, text or name


@dataclass(frozen=True)
class TemplateView:
    """A synced template as the desk and the API show it."""

    id: int
    inbox_id: int
    name: str
    language: str
    category: str
    status: str
    text: str
    parameters: list[TemplateParameter]
    reason: str  # why it cannot be sent ("" when it can)

    @property
    def sendable(self) -> bool:
        return not self.reason


def describe(template: WhatsAppTemplate) -> TemplateView:
    reason = unsupported_reason(template.components)
    if not reason and not template.approved:
        reason = _("Meta has not approved it (status %(status)s)") % {
            "status": template.status or "?"
        }
    return TemplateView(
        id=template.pk,
        inbox_id=template.inbox_id,
        name=template.name,
        language=template.language,
        category=template.category,
        status=template.status,
        text=body_text(template.components),
        parameters=parameters_of(template.components),
        reason=reason,
    )
