"""How a setting is declared and parsed: its field, environment variable, meaning and parser.

The SDK's settings (:mod:`lineage_collector.config`) and the worker's
(``lineage_processors.settings``) are both declared this way, so they are read, checked and
shown alike. A parser takes the raw text of a variable and returns the typed value or raises
``ValueError`` saying what the value must be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lineage_collector.security import Secret


@dataclass(frozen=True)
class SettingSpec:
    """One setting: the field it fills, its environment variable, and what it means."""

    field: str
    env: str
    doc: str
    parse: Callable[[str], Any]
    secret: bool = False
    url: bool = False
    """A URL that may carry a password: kept as a string, its password redacted."""


def positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def non_negative_float(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # also refuses nan
        raise ValueError("must be 0 or a positive number")
    return value


def port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a TCP port between 0 and 65535 (0 picks a free one)")
    return value


def nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def broker_count(raw: str) -> int:
    value = int(raw)
    if value not in (1, 3):
        raise ValueError("must be 1 or 3")
    return value


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
    return level


def flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 1 or 0 (true or false)")


def one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().upper()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def secret(raw: str) -> Secret:
    return Secret(nonempty(raw))
