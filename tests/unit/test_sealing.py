"""Envelope sealing: AES-GCM under a KMS data key, reused for a bounded time, bound to its item."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.fakes import FakeClock
from vcc_tokens.aws.sealing import DATA_KEY_MAX_AGE, KmsEnvelopeCipher, Sealed


class FakeKms:
    """KMS's GenerateDataKey and Decrypt, with the encryption context checked, on a dict."""

    class exceptions:  # noqa: N801 - botocore's spelling
        class InvalidCiphertextException(Exception):
            pass

    def __init__(self) -> None:
        self.keys: dict[bytes, tuple[bytes, dict[str, str]]] = {}
        self.calls: list[str] = []

    def generate_data_key(self, **request: Any) -> dict[str, bytes]:
        self.calls.append("GenerateDataKey")
        plain, blob = os.urandom(32), os.urandom(48)
        self.keys[blob] = (plain, request["EncryptionContext"])
        return {"Plaintext": plain, "CiphertextBlob": blob}

    def decrypt(self, **request: Any) -> dict[str, bytes]:
        self.calls.append("Decrypt")
        known = self.keys.get(request["CiphertextBlob"])
        if known is None or known[1] != request["EncryptionContext"]:
            raise self.exceptions.InvalidCiphertextException
        return {"Plaintext": known[0]}


@pytest.fixture
def kms() -> FakeKms:
    return FakeKms()


def cipher(kms: FakeKms, clock: FakeClock) -> KmsEnvelopeCipher:
    return KmsEnvelopeCipher(kms, "alias/test", clock=clock)  # type: ignore[arg-type]


def test_one_data_key_seals_many_tokens_until_it_is_too_old(kms: FakeKms) -> None:
    clock = FakeClock()
    sealer = cipher(kms, clock)
    first = [sealer.seal(f"token-{n}", b"item") for n in range(10)]
    clock.now += DATA_KEY_MAX_AGE
    later = sealer.seal("token-late", b"item")
    assert kms.calls == ["GenerateDataKey", "GenerateDataKey"]
    assert len({sealed.data_key for sealed in first}) == 1
    assert later.data_key != first[0].data_key
    assert len({sealed.ciphertext[:12] for sealed in first}) == 10  # a fresh nonce each time


def test_another_instance_opens_with_one_kms_call_per_data_key(kms: FakeKms) -> None:
    clock = FakeClock()
    sealed = [
        cipher(kms, clock).seal("token-0", b"item"),
        cipher(kms, clock).seal("other", b"other-item"),
    ]
    reader = cipher(kms, clock)
    kms.calls.clear()
    for _ in range(5):
        assert reader.open(sealed[0], b"item") == "token-0"
        assert reader.open(sealed[1], b"other-item") == "other"
    assert kms.calls == ["Decrypt", "Decrypt"]


def test_a_64_kb_token_round_trips(kms: FakeKms) -> None:
    token = "x" * 65536
    clock = FakeClock()
    assert cipher(kms, clock).open(cipher(kms, clock).seal(token, b"k"), b"k") == token


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: (Sealed(s.data_key, s.ciphertext), b"another item"),
        lambda s: (Sealed(s.data_key, s.ciphertext[:-1] + bytes([s.ciphertext[-1] ^ 1])), b"item"),
        lambda s: (Sealed(os.urandom(48), s.ciphertext), b"item"),
        lambda s: (Sealed(s.data_key, s.ciphertext[:5]), b"item"),
    ],
)
def test_a_token_opens_only_for_its_binding_and_unaltered(kms: FakeKms, tamper: Any) -> None:
    clock = FakeClock()
    sealed, binding = tamper(cipher(kms, clock).seal("secret-token", b"item"))
    assert cipher(kms, clock).open(sealed, binding) is None
