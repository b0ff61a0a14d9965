"""The open challenge portal: de-identify, release, reproduce and publish challenge data.

The library API: one function (or class) per stage, the same ones the ``portal``
commands call, importable from here without knowing the layout::

    import portal

    card = portal.load_card(Path("data_cards/datpark.md"))
    key = portal.load_key("datpark", export=Path("raw/datpark"), directory=Path(".portal-secrets"))
    portal.ingest_export("datpark", Path("raw/datpark"), Path("data/datpark"),
                         options=card.meta.deidentification, schema=card.meta.schema, key=key)
    portal.build_release("datpark", Path("data/datpark/staging"),
                         Path("data/datpark/releases"), card, version="1.0.0", date="2025-07-01")
    portal.verify_release(Path("data/datpark/releases/1.0.0")).ok
    portal.Reproduction(Path("."), "datpark").run("sbr-logistic")
    portal.publish_release(Path("data/datpark/releases/1.0.0"), "dir:///srv/mirror")
    portal.build_site(Path("."), Path("site"))

Each name is imported on first use, so ``import portal`` stays cheap and a stage never
loads the code of the others. Errors are :mod:`portal.errors` (``PortalError`` and its
children, each with the exit code the CLI gives it).
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

#: public name -> "module:attribute", in the order of the pipeline; no name is that of a
#: subpackage (``portal.ingest`` is the package, ``portal.ingest_export`` the function)
API = {
    # configuration and inputs
    "load_params": "portal.config:load_params",
    "load_card": "portal.release.cards:load_card",
    "load_key": "portal.deid.keys:load_key",
    "read_export": "portal.export.contract:read_export",
    # the synthetic stand-in for an export
    "synthesize": "portal.synth.export:synthesize",
    # stages
    "ingest_export": "portal.ingest.staging:ingest",
    "verify_deidentified": "portal.verify_deid.verifier:verify_folder",
    "build_release": "portal.release.build:build_release",
    "verify_release": "portal.release.manifest:verify_release",
    "Reproduction": "portal.reproduce.reproduction:Reproduction",
    "collect_verdicts": "portal.reproduce.reproduction:collect_verdicts",
    "publish_release": "portal.publish.publication:publish",
    "build_site": "portal.site.build:build_site",
}

__all__ = ["API", "__version__", *API]


def __getattr__(name: str):
    try:
        module, attribute = API[name].split(":")
    except KeyError:
        raise AttributeError(f"module 'portal' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
