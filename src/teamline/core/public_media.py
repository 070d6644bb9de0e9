"""`/media/agents/…`, `/media/teams/…`: the uploaded photos the widget shows customers.

They are uploads, so they are served like attachments (conversations/attachments.py): the
safe raster images inline, anything else as a download, always with nosniff and a policy that
runs nothing, so a file that is not what its name says cannot become a page on our origin.
"""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.views.static import serve

SAFE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def serve_photo(request: HttpRequest, path: str) -> HttpResponseBase:
    response = serve(request, path, document_root=str(settings.MEDIA_ROOT))
    content_type, _ = mimetypes.guess_type(path)
    if content_type not in SAFE_IMAGES:
        response["Content-Type"] = "application/octet-stream"
        response["Content-Disposition"] = "attachment"  # no filename: it is ours, not theirs
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
