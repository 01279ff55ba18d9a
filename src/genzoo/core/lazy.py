"""Lazy package attributes (PEP 562): a package names what it exports and where each name
lives; a name's module is imported on first use, so importing the package stays cheap.

Usage, in a package's ``__init__.py``::

    __getattr__, __dir__ = lazy_exports(__name__, {"train": "genzoo.training.trainer"})

A name whose table entry is the submodule ``package.name`` itself (``"apps":
"genzoo.apps"``) resolves to that module; any other name to the attribute of that module.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the lazily imported ``table``
    (public name -> defining module); a resolved name is cached in the package's namespace."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(table[name])
        value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
