"""The sFlow-RT compatible REST API over the engine (aiohttp); see :mod:`flowrt.api.app`."""

from flowrt.api.app import app_clock, create_app, rest_enabled
from flowrt.api.errors import error_response

__all__ = ["app_clock", "create_app", "error_response", "rest_enabled"]
