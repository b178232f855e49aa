"""The web UI: status, agents, metrics and flow browsers, the REST API explorer, and the
``/inc/`` assets sFlow-RT apps load. Static files only; see :mod:`flowrt.web.routes`."""
