"""Envelope encryption of cached tokens: a KMS data key, AES-256-GCM, the encrypted data key
stored beside the ciphertext.

Why envelope encryption: KMS `Encrypt` takes at most 4,096 bytes, and VCC promises no token size
(a JWT with many claims passes that easily); AES-GCM has no practical limit. It also takes KMS
off most reads: an execution environment seals with one data key for up to `max_age` seconds
(as the AWS Encryption SDK's caching materials manager does) and remembers the data keys it has
opened for as long, so a read of an item sealed by a known data key needs no KMS call. A data
key is never used for more than a few hundred seals, far inside AES-GCM's limit for random
96-bit nonces.

What is bound: the data key is encrypted under the service's KMS key with the encryption context
{"purpose": "vcc-token-cache"} (the key policy requires it); the token's AES-GCM associated data
is the item's `binding` (its cache key, token type, fetched_at and expires_at), so a ciphertext
moved to another item, or an item whose expiry was changed, does not open.

`cryptography` (pyca) is the one runtime dependency beyond the three named ones: the standard
library has no AES-GCM, and hand-written cryptography is not an option.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vcc_tokens.aws.clients import calling
from vcc_tokens.values.ttl_cache import TtlCache

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

NONCE_BYTES = 12
DATA_KEY_MAX_AGE = 300.0  # seconds an environment seals with one data key, or trusts an opened one
OPENED_KEYS_KEPT = 64  # data keys opened by this environment, remembered at most


@dataclass(frozen=True)
class Sealed:
    data_key: bytes  # the AES key, encrypted under the KMS key
    ciphertext: bytes  # nonce, then the AES-GCM ciphertext and tag


class TokenCipher(ABC):
    @abstractmethod
    def seal(self, plaintext: str, binding: bytes) -> Sealed:
        """Encrypt a token for the item that `binding` describes."""

    @abstractmethod
    def open(self, sealed: Sealed, binding: bytes) -> str | None:
        """The token, or None if it was not sealed for `binding` by our KMS key (or altered).
        Both raise DependencyError (vcc_tokens.aws.clients) if KMS cannot be used."""


class KmsEnvelopeCipher(TokenCipher):
    CONTEXT = {"purpose": "vcc-token-cache"}

    def __init__(
        self,
        client: KMSClient,
        key_id: str,
        *,
        max_age: float = DATA_KEY_MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._key_id = key_id
        self._clock = clock
        # the data key this environment seals with, (plain, encrypted), by KMS key id
        self._sealing: TtlCache[str, tuple[bytes, bytes]] = TtlCache(max_age)
        # the data keys it opened (its own included), encrypted -> plain
        self._opened: TtlCache[bytes, bytes] = TtlCache(max_age, OPENED_KEYS_KEPT)

    def seal(self, plaintext: str, binding: bytes) -> Sealed:
        plain_key, encrypted_key = self._sealing_key()
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(plain_key).encrypt(nonce, plaintext.encode("utf-8"), binding)
        return Sealed(encrypted_key, nonce + ciphertext)

    def open(self, sealed: Sealed, binding: bytes) -> str | None:
        plain_key = self._opened_key(sealed.data_key)
        if plain_key is None:
            return None
        nonce, ciphertext = sealed.ciphertext[:NONCE_BYTES], sealed.ciphertext[NONCE_BYTES:]
        try:
            return AESGCM(plain_key).decrypt(nonce, ciphertext, binding).decode("utf-8")
        except (InvalidTag, ValueError):
            return None

    def _sealing_key(self) -> tuple[bytes, bytes]:
        now = self._clock()
        sealing = self._sealing.get(self._key_id, now)
        if sealing is None:
            with calling("KMS", self._key_id):
                answer = self._client.generate_data_key(
                    KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=self.CONTEXT
                )
            sealing = (answer["Plaintext"], answer["CiphertextBlob"])
            self._sealing.put(self._key_id, sealing, now)
            self._opened.put(answer["CiphertextBlob"], answer["Plaintext"], now)
        return sealing

    def _opened_key(self, encrypted_key: bytes) -> bytes | None:
        now = self._clock()
        known = self._opened.get(encrypted_key, now)
        if known is not None:
            return known
        with calling("KMS", self._key_id):
            try:
                answer = self._client.decrypt(
                    KeyId=self._key_id,
                    CiphertextBlob=encrypted_key,
                    EncryptionContext=self.CONTEXT,
                )
            except self._client.exceptions.InvalidCiphertextException:
                return None  # not our key's, or altered: not a fault, a token that does not open
        self._opened.put(encrypted_key, answer["Plaintext"], now)
        return answer["Plaintext"]
