"""Jinja2 templates for the console: the shell's and each domain's own folder."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from siyu.core.http import request_locale
from siyu.core.i18n import translator

env = Environment(
    loader=ChoiceLoader(
        [
            PackageLoader("siyu", "templates"),
            PackageLoader("siyu.customers", "templates"),
            PackageLoader("siyu.workspaces", "templates"),
        ]
    ),
    autoescape=select_autoescape(["html"]),
)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a console page in the caller's language."""
    locale = request_locale(request)
    html = env.get_template(template).render(
        request=request, t=translator(locale), locale=locale, **context
    )
    return HTMLResponse(html, status_code=status_code)
