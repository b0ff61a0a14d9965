"""mkdocs hooks (``hooks:`` in mkdocs.yml): what the theme needs from ``params.yaml``.

The footer of every page names the site's publisher, how to reach them and the
licence of the site's text (``site.publisher``, ``site.contact``, ``site.licence``);
they are read here, once per build, into ``config.extra.portal``. Each value is
escaped by the theme's template (``partials/copyright.html``) and a contact or
licence address is kept only for ``http``, ``https`` and ``mailto``.
"""

from __future__ import annotations

import os
from pathlib import Path

from portal.config import PARAMS_FILE, load_params

SAFE_SCHEMES = ("http://", "https://", "mailto:")


def _address(value: str) -> str:
    return value if value.startswith(SAFE_SCHEMES) and not any(c.isspace() for c in value) else ""


def on_config(config, **_):
    root = Path(os.environ.get("PORTAL_SITE_ROOT") or Path.cwd())
    site = load_params(root / PARAMS_FILE).site
    contact = site.contact.strip()
    config.extra["portal"] = {
        "name": site.name,
        "publisher": site.publisher,
        "contact": contact,
        "contact_href": _address(contact)
        or (f"mailto:{contact}" if "@" in contact and " " not in contact else ""),
        "licence": site.licence,
        "licence_url": _address(site.licence_url),
    }
    return config
