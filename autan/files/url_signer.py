"""Signed download URLs: an HMAC over the file id and an expiry time.

The secret is made once and kept in the data directory (mode 0600), so every process sharing
that directory signs and checks alike, and URLs survive a restart; on a database shared by
several machines, in the database, so that every process on it signs and checks alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from autan.storage.blob_tables import PlatformSecretRow
from autan.storage.database import Database

SECRET_FILE = "url_signing_key"


class UrlSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> UrlSigner:
        path = data_dir / SECRET_FILE
        if not path.exists():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    @classmethod
    def from_database(cls, db: Database, data_dir: Path) -> UrlSigner:
        """The secret kept in ``db``, made by the first process to ask: the one of its
        ``data_dir`` when it has one (URLs it signed stay valid), else a new one."""
        with db.engine.connect() as connection:
            found = connection.scalar(
                select(PlatformSecretRow.value).where(PlatformSecretRow.name == SECRET_FILE)
            )
        if found is None:
            path = data_dir / SECRET_FILE
            made = path.read_text().strip() if path.exists() else secrets.token_hex(32)
            try:
                with db.engine.begin() as connection:
                    connection.execute(
                        insert(PlatformSecretRow).values(name=SECRET_FILE, value=made)
                    )
                found = made
            except IntegrityError:  # another process made it first: use theirs
                with db.engine.connect() as connection:
                    found = connection.scalar(
                        select(PlatformSecretRow.value).where(PlatformSecretRow.name == SECRET_FILE)
                    )
        assert found is not None, "the URL signing secret exists once made"
        return cls(bytes.fromhex(found))

    def signature(self, file_id: str, expires: int) -> str:
        message = f"{file_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, file_id: str, hours: int) -> tuple[int, str]:
        """(expires, signature) for a URL valid ``hours`` from now."""
        expires = int(time.time()) + hours * 3600
        return expires, self.signature(file_id, expires)

    def valid(self, file_id: str, expires: int, signature: str) -> bool:
        if expires < time.time():
            return False
        # As bytes: compare_digest refuses str holding anything but ASCII.
        expected = self.signature(file_id, expires).encode()
        return hmac.compare_digest(expected, signature.encode("utf-8", "surrogateescape"))
