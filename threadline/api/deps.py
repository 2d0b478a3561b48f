"""What routers take from the application state."""

from __future__ import annotations

from starlette.requests import Request

from threadline.services import Services

__all__ = ["services"]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
