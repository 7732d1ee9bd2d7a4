"""The master key that encrypts exchange credentials and webhook tokens.

It comes from ARISTOBOT_SECRET_KEY or is generated once into the data dir (mode 0600).
"""

import base64
import hashlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from config.settings import Settings

KEY_FILE = "secret.key"


def _fernet_key(raw: str) -> bytes:
    """Accept a Fernet key as is; derive one from any other passphrase."""
    try:
        Fernet(raw.encode())
        return raw.encode()
    except ValueError:
        return base64.urlsafe_b64encode(hashlib.sha256(raw.encode()).digest())


def load_or_create_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value().strip()
        if len(value) < 16:
            raise ValueError("ARISTOBOT_SECRET_KEY is too short: use at least 16 characters")
        return _fernet_key(value)
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        return _fernet_key(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # Written whole to a private temporary file, then linked into place: a process starting
    # at the same moment never reads a half-written key, and never overwrites ours.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key.decode())
        os.link(temporary, path)
    except FileExistsError:
        return _fernet_key(path.read_text().strip())
    finally:
        os.unlink(temporary)
    return key


class Vault:
    """Encrypts and decrypts small secrets with the master key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        # A stable, non-secret salt for values that must be derivable but not guessable.
        self.install_salt = hashlib.sha256(b"aristobot-install:" + key).digest()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt a stored secret: ARISTOBOT_SECRET_KEY changed since it was saved"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> "Vault":
        return cls(load_or_create_key(settings))
