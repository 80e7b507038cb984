"""The bytes of ``secrets.enc``: a header, then AES-256-GCM over the JSON of the secrets.

    offset  size  what
    0       8     magic, b"PWSECRET"
    8       1     format version (1)
    9       8     key id: the first 8 bytes of SHA-256 of the key
    17      12    nonce, random for every write
    29      ...   ciphertext and its 16-byte tag

The first 17 bytes are the associated data: the tag covers them, so a key
id cannot be changed to steer a reader to another key. The key id is what
tells "sealed with another key" (the key is the wrong one: restore it) from
"the file is damaged" (the tag fails with the right key): two faults with
two different fixes, so two different messages.

``cryptography`` is imported in the functions, never at import: a daemon that reads no secret never
loads it, and one whose store is empty loads it at the first write
(decision 0034).
"""

from __future__ import annotations

import os

MAGIC = b"PWSECRET"
VERSION = 1
KEY_BYTES = 32
_ID = 8
_NONCE = 12
_AAD = len(MAGIC) + 1 + _ID
HEADER = _AAD + _NONCE
_TAG = 16


class Unsealable(ValueError):
    """The bytes are not a store this key (or any key) opens; ``str()`` says why."""


class SealedWithOtherKey(Unsealable):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"it was sealed with key {key_id}")
        self.key_id = key_id


def key_id(key: bytes) -> str:
    """The short, public name of a key: 16 hex digits.

    SHA-256 from ``cryptography``, which is loaded whenever a key id is needed
    (a store to open or seal), not ``hashlib``: its ``_hashlib`` would load
    the system's libcrypto besides, ~3.5 MiB more of the daemon (decision 0008).
    """
    from cryptography.hazmat.primitives.hashes import SHA256, Hash

    digest = Hash(SHA256())
    digest.update(key)
    return digest.finalize()[:_ID].hex()


def seal(plaintext: bytes, key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aad = MAGIC + bytes([VERSION]) + bytes.fromhex(key_id(key))
    nonce = os.urandom(_NONCE)
    return aad + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def sealed_key_id(data: bytes) -> str:
    """The id of the key ``data`` was sealed with; Unsealable if it is no store."""
    if len(data) < HEADER + _TAG or not data.startswith(MAGIC):
        raise Unsealable("it is not a procward secret store (its header is wrong)")
    if data[len(MAGIC)] != VERSION:
        raise Unsealable(
            f"it is in format {data[len(MAGIC)]}, and this procward reads format {VERSION} "
            "(written by a newer procward?)"
        )
    return data[len(MAGIC) + 1 : _AAD].hex()


def unseal(data: bytes, keys: list[bytes]) -> bytes:
    """The plaintext of ``data``, opened with whichever of ``keys`` it was sealed with."""
    wanted = sealed_key_id(data)
    key = next((k for k in keys if key_id(k) == wanted), None)
    if key is None:
        raise SealedWithOtherKey(wanted)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(key).decrypt(data[_AAD:HEADER], data[HEADER:], data[:_AAD])
    except InvalidTag:
        raise Unsealable(
            "it fails authentication with its own key: the file is damaged or was altered"
        ) from None
