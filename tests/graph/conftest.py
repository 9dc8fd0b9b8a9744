from __future__ import annotations

import warnings
from types import ModuleType

import pytest

import rxsubstrate

with warnings.catch_warnings():  # the SDK's pydantic models warn on import
    warnings.simplefilter("ignore")
    import substrate


@pytest.fixture(scope="session")
def sdk() -> ModuleType:
    """The official SDK, whose graphs ours must match."""
    return substrate


@pytest.fixture(scope="session")
def rx() -> ModuleType:
    return rxsubstrate
