"""The bytes of ``secrets.enc``: a header, then XChaCha20-Poly1305 over the JSON of the secrets.

    offset  size  what
    0       8     magic, b"PWSECRET"
    8       1     format version (2)
    9       8     key id: BLAKE2b keyed with the key (see ``key_id``)
    17      24    nonce, random for every write
    41      ...   ciphertext and its 16-byte tag

The first 17 bytes are the associated data: the tag covers them, so a key
id cannot be changed to steer a reader to another key. The key id is what
tells "sealed with another key" (the key is the wrong one: restore it) from
"the file is damaged" (the tag fails with the right key): two faults with
two different fixes, so two different messages.

Why libsodium (PyNaCl) and not ``cryptography``: the first seal or open
grows a daemon by 1.3 MiB with it, against 8.9 MiB for ``cryptography``'s
bundled OpenSSL (decision 0034). The AEAD is libsodium's IETF
XChaCha20-Poly1305: its 24-byte nonce may be random for every write with
no bound worth counting, and it takes the header as associated data
(SecretBox has none). Format 1 was AES-256-GCM; it was never released,
so nothing reads it.

``nacl`` is imported in the functions, never at import: a daemon that reads
no secret never loads it (nor ``cffi``), and one whose store is empty loads
it at the first write.
"""

from __future__ import annotations

import os

MAGIC = b"PWSECRET"
VERSION = 2
KEY_BYTES = 32
_ID = 8
_NONCE = 24
_AAD = len(MAGIC) + 1 + _ID
HEADER = _AAD + _NONCE
_TAG = 16
_ID_LABEL = b"procward secrets key id"


class Unsealable(ValueError):
    """The bytes are not a store this key (or any key) opens; ``str()`` says why."""


class SealedWithOtherKey(Unsealable):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"it was sealed with key {key_id}")
        self.key_id = key_id


def key_id(key: bytes) -> str:
    """The short, public name of a key: 16 hex digits.

    A MAC of a fixed label under the key (BLAKE2b keyed with it), so the id
    says nothing of the key but which one it is. From ``nacl.hash``, which
    the store loads anyway, not ``hashlib``: its ``_hashlib`` would load the
    system's libcrypto besides, ~3.5 MiB more of the daemon (decision 0008).
    """
    from nacl.encoding import RawEncoder
    from nacl.hash import blake2b

    return blake2b(_ID_LABEL, digest_size=_ID, key=key, encoder=RawEncoder).hex()


def seal(plaintext: bytes, key: bytes) -> bytes:
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt as encrypt

    aad = MAGIC + bytes([VERSION]) + bytes.fromhex(key_id(key))
    nonce = os.urandom(_NONCE)
    return aad + nonce + encrypt(plaintext, aad, nonce, key)


def sealed_key_id(data: bytes) -> str:
    """The id of the key ``data`` was sealed with; Unsealable if it is no store."""
    if len(data) < HEADER + _TAG or not data.startswith(MAGIC):
        raise Unsealable("it is not a procward secret store (its header is wrong)")
    version = data[len(MAGIC)]
    if version != VERSION:
        newer = " (written by a newer procward?)" if version > VERSION else ""
        raise Unsealable(
            f"it is in format {version}, and this procward reads format {VERSION}{newer}"
        )
    return data[len(MAGIC) + 1 : _AAD].hex()


def unseal(data: bytes, keys: list[bytes]) -> bytes:
    """The plaintext of ``data``, opened with whichever of ``keys`` it was sealed with."""
    wanted = sealed_key_id(data)
    key = next((k for k in keys if key_id(k) == wanted), None)
    if key is None:
        raise SealedWithOtherKey(wanted)
    from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt as decrypt
    from nacl.exceptions import CryptoError

    try:
        return decrypt(data[HEADER:], data[:_AAD], data[_AAD:HEADER], key)
    except CryptoError:
        raise Unsealable(
            "it fails authentication with its own key: the file is damaged or was altered"
        ) from None
