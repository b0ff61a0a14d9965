"""Set environment variables for the length of a block, then put back what was there."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def scoped_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``values`` applied (``None`` removes a variable) inside the
    block; afterwards each variable has its earlier value again, or is absent again."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
