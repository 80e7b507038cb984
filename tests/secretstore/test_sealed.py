"""The bytes of ``secrets.enc`` (secretstore/sealed.py): the layout its docstring draws."""

from __future__ import annotations

import hashlib
import os

import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as decrypt
from nacl.exceptions import CryptoError

from procward.secretstore.sealed import (
    HEADER,
    MAGIC,
    VERSION,
    SealedWithOtherKey,
    Unsealable,
    key_id,
    seal,
    unseal,
)

KEY = bytes(range(32))


def test_the_key_id_is_blake2b_keyed_with_the_key_of_a_fixed_label() -> None:
    # hashlib here only to check the derivation independently; the store never imports it.
    expected = hashlib.blake2b(b"procward secrets key id", digest_size=8, key=KEY).hexdigest()
    assert key_id(KEY) == expected == "adcefaa9d5c09669"
    assert key_id(os.urandom(32)) != key_id(KEY)


def test_the_file_is_header_nonce_then_xchacha20_poly1305_with_the_header_as_aad() -> None:
    data = seal(b'{"version": 1}', KEY)
    assert data[:8] == MAGIC == b"PWSECRET" and data[8] == VERSION == 2
    assert data[9:17].hex() == key_id(KEY)
    assert HEADER == 41 and len(data) == HEADER + len(b'{"version": 1}') + 16
    nonce, sealed = data[17:41], data[41:]
    assert decrypt(sealed, data[:17], nonce, KEY) == b'{"version": 1}'
    with pytest.raises(CryptoError):  # the tag covers the header
        decrypt(sealed, MAGIC + bytes([VERSION]) + bytes(8), nonce, KEY)


def test_every_write_has_its_own_nonce() -> None:
    first, second = seal(b"same", KEY), seal(b"same", KEY)
    assert first[17:HEADER] != second[17:HEADER] and first[HEADER:] != second[HEADER:]


def test_it_opens_with_the_key_it_names_among_several() -> None:
    other = os.urandom(32)
    assert unseal(seal(b"v", KEY), [other, KEY]) == b"v"
    with pytest.raises(SealedWithOtherKey) as caught:
        unseal(seal(b"v", KEY), [other])
    assert caught.value.key_id == key_id(KEY)


@pytest.mark.parametrize("where", [17, HEADER, -1])  # the nonce, the ciphertext, the tag
def test_a_changed_byte_fails_authentication(where: int) -> None:
    data = bytearray(seal(b"value", KEY))
    data[where] ^= 0x01
    with pytest.raises(Unsealable, match="fails authentication with its own key"):
        unseal(bytes(data), [KEY])


def test_another_format_or_no_store_is_refused_saying_which() -> None:
    data = seal(b"v", KEY)
    older = data[:8] + b"\x01" + data[9:]
    with pytest.raises(Unsealable, match=r"^it is in format 1, and this procward reads format 2$"):
        unseal(older, [KEY])
    newer = data[:8] + b"\x03" + data[9:]
    with pytest.raises(Unsealable, match=r"format 3, .* \(written by a newer procward\?\)$"):
        unseal(newer, [KEY])
    for junk in (b"", b"PWSECRET", b"x" * 100, data[: HEADER + 15]):
        with pytest.raises(Unsealable, match="not a procward secret store"):
            unseal(junk, [KEY])
