"""The PEP 517 build backend of `pip install .`: maturin's, with cargo's --ignore-rust-version.

openusd 0.8 declares rust-version 1.96 and builds on rustc 1.95, but only when cargo is told
--ignore-rust-version, and no cargo config key or environment variable does that (shared/USD.md).
maturin passes the flag to cargo when it is among its build arguments, which a user would have
to give as MATURIN_PEP517_ARGS or `-C maturin.build-args=...`; this wrapper adds it to whatever
arguments were given (those still work: `pip install . -C maturin.build-args="--profile dev"`),
so a plain `pip install .` works. pyproject.toml names this module with `backend-path`.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import maturin
from maturin import (  # noqa: F401  (the hooks that need no change, re-exported)
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

FLAG = "--ignore-rust-version"


def _settings(config_settings: Optional[Mapping[str, Any]]) -> dict:
    """config_settings with FLAG added to maturin's build arguments (from the settings, else
    from MATURIN_PEP517_ARGS, as maturin reads them)."""
    args = list(maturin.get_maturin_pep517_args(config_settings))
    if FLAG not in args:
        args.append(FLAG)
    settings = {k: v for k, v in (config_settings or {}).items() if k != "build-args"}
    settings["maturin.build-args"] = args
    return settings


def build_wheel(wheel_directory: str, config_settings=None, metadata_directory=None) -> str:
    return maturin.build_wheel(wheel_directory, _settings(config_settings), metadata_directory)


def build_editable(wheel_directory: str, config_settings=None, metadata_directory=None) -> str:
    return maturin.build_editable(wheel_directory, _settings(config_settings), metadata_directory)
