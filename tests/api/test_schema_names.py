"""Every schema the API publishes is one shape per name. The OpenAPI document keys its
components by class name, so two different classes with the same name would leave one of them
documented under the other's shape (a client generated from /api/v1/openapi.json would then
read a response wrongly). Classes that share a name must be the same shape; otherwise one is
renamed."""

from __future__ import annotations

import json
from collections import defaultdict

from ninja import Schema

import teamline.urls  # noqa: F401 - every router, with its schemas, is imported


def all_schemas(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(all_schemas(sub))
    return found


def test_schemas_that_share_a_name_share_a_shape():
    shapes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for schema in all_schemas(Schema):
        if not schema.__module__.startswith("teamline."):
            continue
        shape = json.dumps(schema.model_json_schema(), sort_keys=True)
        shapes[schema.__name__][shape].append(f"{schema.__module__}.{schema.__qualname__}")
    clashes = {
        name: sorted(path for paths in by_shape.values() for path in paths)
        for name, by_shape in shapes.items()
        if len(by_shape) > 1
    }
    assert clashes == {}
