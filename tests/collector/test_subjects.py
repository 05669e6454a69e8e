"""Pseudonyms: keyed, stable, and no raw id or key in sight."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lineage_collector.errors import ConfigError
from lineage_collector.subjects import MIN_KEY_LENGTH, Pseudonymizer

KEY = "k" * MIN_KEY_LENGTH


def test_a_pseudonym_is_the_keyed_hmac_of_the_id() -> None:
    pseudo = Pseudonymizer(KEY)
    expected = hmac.new(KEY.encode(), b"alice", hashlib.sha256).hexdigest()
    assert pseudo.pseudonym("alice") == expected == Pseudonymizer(KEY).pseudonym("alice")
    assert pseudo.pseudonym("Alice") != expected  # ids are taken exactly as given
    assert Pseudonymizer("z" * MIN_KEY_LENGTH).pseudonym("alice") != expected


def test_the_key_id_names_the_key_without_revealing_it() -> None:
    pseudo = Pseudonymizer(KEY)
    assert len(pseudo.key_id) == 16
    assert pseudo.key_id != Pseudonymizer("z" * MIN_KEY_LENGTH).key_id
    assert KEY not in repr(pseudo) and pseudo.key_id in repr(pseudo)


def test_a_missing_or_short_key_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="LINEAGE_SUBJECT_KEY is not set"):
        Pseudonymizer("")
    with pytest.raises(ConfigError, match=r"too short \(5 characters\).*secrets.token_hex"):
        Pseudonymizer("short")
    with pytest.raises(ValueError, match="non-empty string"):
        Pseudonymizer(KEY).pseudonym("")
