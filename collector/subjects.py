"""Pseudonyms for personal identifiers: keyed HMAC-SHA256, computed inside the producing process.

The raw identifier never leaves the process: only its pseudonym is put on events. The same key
gives the same pseudonym for the same id across processes and restarts, which is what lets
``lineage subject ID`` find a person's records later. ``key_id`` names the key (not revealing
it), so pseudonyms made under different keys are never mistaken for one another.
"""

from __future__ import annotations

import hashlib
import hmac

from lineage_collector.errors import ConfigError

MIN_KEY_LENGTH = 32


class Pseudonymizer:
    """Turns raw subject ids into stable, keyed pseudonyms."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ConfigError(
                "LINEAGE_SUBJECT_KEY is not set: a secret key of at least "
                f"{MIN_KEY_LENGTH} characters is needed to pseudonymise subject ids "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(
                f"LINEAGE_SUBJECT_KEY is too short ({len(key)} characters): use at least "
                f"{MIN_KEY_LENGTH}, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        self._key = key.encode()
        self.key_id = hmac.new(self._key, b"lineage-collector key id", hashlib.sha256).hexdigest()[
            :16
        ]

    def __repr__(self) -> str:
        return f"Pseudonymizer(key_id={self.key_id!r})"

    def pseudonym(self, subject_id: str) -> str:
        """Hex HMAC-SHA256 of the id under the key. Ids are taken exactly as given."""
        if not isinstance(subject_id, str) or not subject_id:
            raise ValueError("a subject id must be a non-empty string")
        return hmac.new(self._key, subject_id.encode(), hashlib.sha256).hexdigest()
