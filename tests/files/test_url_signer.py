"""The secret signed file URLs are checked with: per data directory, or per database."""

from __future__ import annotations

from pathlib import Path

from autan.files.url_signer import SECRET_FILE, UrlSigner
from autan.storage.database import Database


def test_processes_on_one_database_check_each_others_urls(db: Database, tmp_path: Path) -> None:
    node_a = UrlSigner.from_database(db, tmp_path / "a")
    node_b = UrlSigner.from_database(db, tmp_path / "b")  # another machine's data directory
    expires, signature = node_a.sign("file-1", hours=1)
    assert node_b.valid("file-1", expires, signature)
    assert not node_b.valid("file-2", expires, signature)


def test_the_first_process_keeps_the_secret_of_its_data_directory(
    db: Database, tmp_path: Path
) -> None:
    before = UrlSigner.from_data_dir(tmp_path)  # signed URLs made before the database held one
    expires, signature = before.sign("file-1", hours=1)
    assert UrlSigner.from_database(db, tmp_path).valid("file-1", expires, signature)
    assert UrlSigner.from_database(db, tmp_path / "other").valid("file-1", expires, signature)


def test_a_data_directory_secret_is_private_to_the_directory(tmp_path: Path) -> None:
    a, b = UrlSigner.from_data_dir(tmp_path / "a"), UrlSigner.from_data_dir(tmp_path / "b")
    expires, signature = a.sign("file-1", hours=1)
    assert not b.valid("file-1", expires, signature)
    assert (tmp_path / "a" / SECRET_FILE).stat().st_mode & 0o077 == 0
