"""WeCom callback crypto (the WXBizMsgCrypt scheme): SHA1 signature and AES-256-CBC messages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads with PKCS#7 to 32 bytes, not AES's 16


class CallbackError(ValueError):
    """A callback whose signature, encryption or receiver id does not check out."""


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """SHA1 of the four values sorted and concatenated."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


class WecomCrypt:
    """Verify, decrypt and encrypt WeCom callback messages for one app."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise CallbackError("EncodingAESKey must be 43 characters")
        self.token = token
        self.key = base64.b64decode(encoding_aes_key + "=")
        self.receive_id = receive_id

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Refuse a message whose signature is not ours."""
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, msg_signature or ""):
            raise CallbackError("signature mismatch")

    def decrypt(self, encrypt: str) -> str:
        """random(16) + msg_len + msg + receiveid, AES-256-CBC with iv = key[:16]."""
        try:
            raw = base64.b64decode(encrypt)
            decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
            plain = decryptor.update(raw) + decryptor.finalize()
        except ValueError as exc:
            raise CallbackError("not decryptable") from exc
        pad = plain[-1] if plain else 0
        if not 1 <= pad <= BLOCK:
            raise CallbackError("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CallbackError("truncated message")
        (length,) = struct.unpack(">I", content[:4])
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if receive_id.decode(errors="replace") != self.receive_id:
            raise CallbackError("receive id mismatch")
        return message.decode()

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        """The inverse of decrypt (replies, echoes and tests)."""
        body = message.encode()
        text = (
            (random16 or secrets.token_bytes(16))
            + struct.pack(">I", len(body))
            + body
            + self.receive_id.encode()
        )
        pad = BLOCK - len(text) % BLOCK
        text += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(text) + encryptor.finalize()).decode()

    def open(self, msg_signature: str, timestamp: str, nonce: str, body: bytes) -> dict[str, str]:
        """Verify and decrypt a POSTed callback; returns the inner XML's fields."""
        encrypt = xml_fields(body).get("Encrypt", "")
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return xml_fields(self.decrypt(encrypt).encode())


def xml_fields(body: bytes) -> dict[str, str]:
    """The child elements of a flat <xml> document, as text."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise CallbackError("DTDs are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise CallbackError("not XML") from exc
    return {child.tag: (child.text or "") for child in root}
