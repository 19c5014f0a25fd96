"""PII at rest: AES-GCM encryption with rotating keys and a keyed blind index for look-ups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYS_FILE = "keys.json"


@dataclass
class Keyring:
    """Encryption keys by id (one primary), the blind-index key and the signing key."""

    encryption: dict[int, bytes]
    primary: int
    blind_key: bytes
    signing_key: bytes
    path: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ciphers: dict[int, AESGCM] = field(default_factory=dict, repr=False)

    @classmethod
    def generate(cls, path: Path | None = None) -> Keyring:
        """A fresh keyring with random 256-bit keys."""
        return cls(
            {1: AESGCM.generate_key(256)}, 1, secrets.token_bytes(32), secrets.token_bytes(32), path
        )

    @classmethod
    def load_or_create(cls, data_dir: Path) -> Keyring:
        """Read keys.json from the data directory, creating it (mode 0600) on first run."""
        path = data_dir / KEYS_FILE
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            ring = cls.generate(path)
            ring.save()
            return ring
        raw = json.loads(path.read_text())
        return cls(
            {int(k): _b64d(v) for k, v in raw["encryption"].items()},
            int(raw["primary"]),
            _b64d(raw["blind_index"]),
            _b64d(raw["signing"]),
            path,
        )

    def save(self) -> None:
        """Write the keyring back to its file, readable by the owner only."""
        if self.path is None:
            return
        raw = {
            "encryption": {str(k): _b64e(v) for k, v in self.encryption.items()},
            "primary": self.primary,
            "blind_index": _b64e(self.blind_key),
            "signing": _b64e(self.signing_key),
        }
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(raw, fh)
        tmp.replace(self.path)

    def add_primary(self) -> int:
        """Add a new encryption key and make it primary; old keys still decrypt."""
        with self._lock:
            new_id = max(self.encryption) + 1
            self.encryption[new_id] = AESGCM.generate_key(256)
            self.primary = new_id
            return new_id

    def retire_old(self) -> None:
        """Drop every encryption key but the primary (after a full re-encryption)."""
        with self._lock:
            self.encryption = {self.primary: self.encryption[self.primary]}
            self._ciphers.clear()

    def encrypt(self, plaintext: str, context: str) -> bytes:
        """Encrypt under the primary key; the context (field name) is bound as associated data."""
        nonce = secrets.token_bytes(12)
        ct = self._cipher(self.primary).encrypt(nonce, plaintext.encode(), context.encode())
        return self.primary.to_bytes(2, "big") + nonce + ct

    def decrypt(self, blob: bytes, context: str) -> str:
        """Decrypt a value written by encrypt(), under whichever key wrote it."""
        key_id = int.from_bytes(blob[:2], "big")
        return self._cipher(key_id).decrypt(blob[2:14], blob[14:], context.encode()).decode()

    def _cipher(self, key_id: int) -> AESGCM:
        # Building an AESGCM object costs more than one encryption; keep one per key.
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.encryption[key_id])
        return cipher

    def key_id_of(self, blob: bytes) -> int:
        """Which key encrypted this value."""
        return int.from_bytes(blob[:2], "big")

    def blind_index(self, kind: str, normalized: str) -> str:
        """Keyed HMAC of a normalized value: equal inputs match, the value cannot be read back."""
        # hmac.digest is OpenSSL's one-shot HMAC: same value as hmac.new(), a few times faster.
        return hmac.digest(self.blind_key, f"{kind}:{normalized}".encode(), "sha256").hex()

    def sign(self, message: str) -> str:
        """HMAC signature for cursors and CSRF tokens."""
        return hmac.new(self.signing_key, message.encode(), hashlib.sha256).hexdigest()[:32]

    def verify(self, message: str, signature: str) -> bool:
        """Constant-time check of sign()."""
        return hmac.compare_digest(self.sign(message), signature)


def _b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _b64d(text: str) -> bytes:
    return base64.b64decode(text)


_keyring: Keyring | None = None
_keyring_lock = threading.Lock()


def get_keyring() -> Keyring:
    """The process keyring, loaded from the data directory on first use."""
    global _keyring
    if _keyring is None:
        with _keyring_lock:
            if _keyring is None:
                from siyu.core.settings import get_settings

                _keyring = Keyring.load_or_create(get_settings().ensure_data_dir())
    return _keyring


def set_keyring(ring: Keyring | None) -> None:
    """Install a keyring (tests, or after the data directory changes)."""
    global _keyring
    _keyring = ring
