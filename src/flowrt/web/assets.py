"""Where each ``/inc/`` and ``/api/`` asset comes from.

Third-party libraries are served from the Python packages that ship them (XStatic-jQuery,
XStatic-jquery-ui, XStatic-Bootstrap 4.5, XStatic-DataTables, swagger-ui-bundle), never
copied into the repository, under sFlow-RT's names: flat ones (``jquery-ui.min.js``)
and the ``jquery-ui/`` and ``DataTables/`` trees. InMon's chart widgets
(``jquery.stripchart.js``, ``stripchart.js``, ``stripchart.css``), the favicon, the logo
and ``inmsf/main.css`` are FlowRT's own files in ``static/inc``.

Two names need care:

* ``bootstrap.min.js`` is Bootstrap's *bundle* (Bootstrap + Popper), because no
  maintained package ships Popper 1 on its own;
* ``popper.min.js`` is therefore a one-line shim: pages that load it before
  ``bootstrap.min.js`` (as sFlow-RT apps do) get Popper from the bundle.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
import xstatic.pkg.bootstrap
import xstatic.pkg.datatables
import xstatic.pkg.jquery
import xstatic.pkg.jquery_ui

OWN_INC = Path(__file__).parent / "static" / "inc"
_JQUERY = Path(xstatic.pkg.jquery.BASE_DIR)
_JQUERY_UI = Path(xstatic.pkg.jquery_ui.BASE_DIR)
_BOOTSTRAP = Path(xstatic.pkg.bootstrap.BASE_DIR)
_DATATABLES = Path(xstatic.pkg.datatables.BASE_DIR)
SWAGGER_DIR = Path(str(swagger_ui_bundle.swagger_ui_path))

THIRD_PARTY: dict[str, Path] = {
    "jquery.min.js": _JQUERY / "jquery.min.js",
    "jquery.js": _JQUERY / "jquery.js",
    "jquery-ui.min.js": _JQUERY_UI / "jquery-ui.min.js",
    "jquery-ui.min.css": _JQUERY_UI / "jquery-ui.min.css",
    "jquery.widget.js": _JQUERY_UI / "jquery-ui.min.js",  # the widget factory is inside
    "bootstrap.min.css": _BOOTSTRAP / "css" / "bootstrap.min.css",
    "bootstrap.min.js": _BOOTSTRAP / "js" / "bootstrap.bundle.min.js",
    "bootstrap.bundle.min.js": _BOOTSTRAP / "js" / "bootstrap.bundle.min.js",
    "jquery.dataTables.min.js": _DATATABLES / "js" / "jquery.dataTables.min.js",
    "dataTables.bootstrap4.min.js": _DATATABLES / "js" / "dataTables.bootstrap4.min.js",
    "dataTables.bootstrap4.min.css": _DATATABLES / "css" / "dataTables.bootstrap4.min.css",
    "jquery.dataTables.min.css": _DATATABLES / "css" / "jquery.dataTables.min.css",
}
THIRD_PARTY_TREES: dict[str, Path] = {
    "jquery-ui/": _JQUERY_UI,  # jquery-ui.min.js, jquery-ui.structure.min.css, images/...
    "DataTables/": _DATATABLES,  # css/..., js/..., images/...
}
"""sFlow-RT's ``/inc/`` sub-trees, served from the same packages (their licences ship
in the packages' metadata: jQuery UI and DataTables are MIT)."""
SHIMS: dict[str, str] = {
    "popper.min.js": "/* FlowRT: Popper is included in /inc/bootstrap.min.js (the bundle) */\n",
}
SWAGGER_FILES = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
    "favicon-32x32.png", "favicon-16x16.png",
})


def safe_join(base: Path, name: str) -> Path | None:
    """``base/name`` if it stays inside ``base`` (no ``..`` escapes), else ``None``."""
    path = (base / name).resolve()
    try:
        path.relative_to(base.resolve())
    except ValueError:
        return None
    return path


def inc_file(name: str) -> Path | None:
    """The file behind ``/inc/<name>``: a third-party library or one of our own
    (``img/favicon.png``, ``img/inmon.svg``, ``inmsf/main.css`` are FlowRT's own files
    at the paths sFlow-RT apps load them from)."""
    found = THIRD_PARTY.get(name)
    if found is not None:
        return found
    for prefix, base in THIRD_PARTY_TREES.items():
        if name.startswith(prefix):
            return safe_join(base, name[len(prefix):])
    return safe_join(OWN_INC, name)


def swagger_file(name: str) -> Path | None:
    """Swagger UI's own files, for the ``/api/`` explorer page."""
    return SWAGGER_DIR / name if name in SWAGGER_FILES else None
