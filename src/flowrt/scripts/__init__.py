"""Scripts and apps: sFlow-RT's script API for JavaScript (QuickJS) and Python.

:class:`ScriptHost` runs the scripts; :func:`install_routes` adds their HTTP routes.
See :mod:`flowrt.scripts.host` for how the composition root wires them.
"""

from flowrt.scripts.host import ScriptHost
from flowrt.scripts.routes import install_routes

__all__ = ["ScriptHost", "install_routes"]
