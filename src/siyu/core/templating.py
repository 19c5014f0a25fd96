"""Jinja2 templates for the console: the shell's and each domain's own folder."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from siyu.core.http import request_locale
from siyu.core.i18n import translator


def _template_dirs() -> list[str]:
    """The shell's templates first, then every domain's own `templates/` folder."""
    package = Path(str(files("siyu")))
    return [str(package / "templates"), *sorted(str(d) for d in package.glob("*/templates"))]


env = Environment(loader=FileSystemLoader(_template_dirs()), autoescape=select_autoescape(["html"]))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a console page in the caller's language."""
    locale = request_locale(request)
    html = env.get_template(template).render(
        request=request, t=translator(locale), locale=locale, **context
    )
    return HTMLResponse(html, status_code=status_code)
