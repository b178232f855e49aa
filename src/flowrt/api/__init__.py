"""The sFlow-RT compatible REST API over the engine (aiohttp); see :mod:`flowrt.api.app`."""

from flowrt.api.app import create_app

__all__ = ["create_app"]
