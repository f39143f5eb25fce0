"""A damaged, read-only, full or newer state database, through the front door: one
line naming the file and what to do (never "start afresh"), exit status 1, no
traceback; and `digest doctor`, which repairs a damaged one without losing the
suppression list or the delivery log.

Real files, damaged the way disks damage them (overwritten bytes, a cut-off tail), a
real immutable file and a real read-only bind mount, a real full tmpfs. Tests run as
root, which ignores permission bits: that is why none of them relies on chmod.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digest.state.deliveries import DeliveryLog
from digest.state.migrations import SCHEMA_VERSION
from digest.state.store import open_store
from tests.helpers import SAMPLES, TEST_SECRET, config_with, error_line, run

PAGE = 4096




def db_path(project: Path) -> Path:
    return project.parent / ".digest" / "state.db"


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Issue #1 built from the samples, two unsubscribed addresses, and a delivery log
    with one pending and one delivered row: the state every test starts from."""
    root = tmp_path_factory.mktemp("built")
    shutil.copytree(SAMPLES, root / "samples")
    feeds = [{"url": f"samples/feeds/{p.name}", "name": p.stem.title()}
             for p in sorted((root / "samples" / "feeds").iterdir())]
    config = config_with(root, feeds)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DIGEST_SECRET", TEST_SECRET)
        assert run(config, "build").exit_code == 0
        for address in ("ann@example.com", "bob@example.com"):
            assert run(config, "unsubscribe", address).exit_code == 0
    log = DeliveryLog.of(open_store(db_path(config)))
    try:
        log.add_pending(1, [("carol@example.com", "carol@example.com", "<1.carol@x>"),
                            ("dan@example.com", "dan@example.com", "<1.dan@x>")])
        log.mark(1, "dan@example.com", "delivered", "250 ok", attempt=True)
    finally:
        log.close()
    assert not db_path(config).with_name("state.db-wal").exists()  # all in the one file
    return root


@pytest.fixture
def built(sample_project: Path, built_once: Path) -> Path:
    """A fresh copy of `built_once` (its database and outbox) for one test."""
    shutil.copytree(built_once / ".digest", sample_project.parent / ".digest")
    shutil.copytree(built_once / "outbox", sample_project.parent / "outbox",
                    dirs_exist_ok=True)
    return sample_project


def overwrite_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(b"garbage!" * 3)  # the magic string and the page size


def cut_tail(db: Path) -> None:
    """Lose the last pages, where the articles' rows are: the header still promises
    them."""
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size - 3 * PAGE)


def scribble_last_page(db: Path) -> None:
    with db.open("r+b") as f:
        f.seek(db.stat().st_size - PAGE)
        f.write(b"\xab" * PAGE)


def newer_schema(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "overwritten header": overwrite_header,
    "truncated": cut_tail,
    "scribbled page": scribble_last_page,
}
COMMANDS = [
    ("collect",),
    ("build",),
    ("build", "--preview"),
    ("status",),
    ("unsubscribe", "eve@example.com"),
]


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_damaged_database_names_the_file_and_offers_doctor(
        built: Path, damage: str, command: tuple[str, ...]):
    db = db_path(built)
    DAMAGE[damage](db)
    before = db.read_bytes()
    result = run(built, *command)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert f"state database {db} is damaged" in line
    assert "run `digest doctor`" in line
    assert "afresh" not in line and "move it aside" not in line
    assert db.read_bytes() == before  # nothing tried to write over it


@pytest.mark.parametrize("command", [*COMMANDS, ("send",), ("run", "--once")], ids=" ".join)
def test_a_newer_schema_says_upgrade_digest_from_every_command(
        built: Path, command: tuple[str, ...]):
    db = db_path(built)
    newer_schema(db)
    result = run(built, *command)
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert f"state database {db} is at schema {SCHEMA_VERSION + 1}, newer" in line
    assert line.endswith("upgrade digest")


# Read-only: an immutable file (chattr +i) and a read-only bind mount ---------------


@contextlib.contextmanager
def immutable(project: Path) -> Iterator[Path]:
    """The database file made immutable (chattr +i): even root cannot write it."""
    db = db_path(project)
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i does not work on this file system")
    try:
        yield db
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@contextlib.contextmanager
def mount_point() -> Iterator[Path]:
    """An empty folder outside pytest's tmp tree, which a concurrent pytest may rename
    (and then this test could not unmount by name)."""
    folder = Path(tempfile.mkdtemp(prefix="digest-test-mount-"))
    try:
        yield folder
    finally:
        unmount(folder)
        folder.rmdir()


@contextlib.contextmanager
def read_only_mount(project: Path) -> Iterator[Path]:
    """The state folder seen through a read-only bind mount; the config points there."""
    with mount_point() as mount, _bound_read_only(project, mount):
        yield mount / "state.db"


@contextlib.contextmanager
def _bound_read_only(project: Path, mount: Path) -> Iterator[None]:
    if subprocess.run(["mount", "--bind", str(db_path(project).parent), str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root and mount rights)")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)],
                                 capture_output=True)
        if remount.returncode != 0:
            pytest.skip("cannot remount a bind mount read-only here")
        text = project.read_text("utf-8") + f'\n[state]\npath = "{mount / "state.db"}"\n'
        project.write_text(text, "utf-8")
        yield
    finally:
        unmount(mount)


def unmount(mount: Path) -> None:
    if f" {mount} " not in Path("/proc/self/mountinfo").read_text():
        return
    if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
        # Busy (a file still open): detach it now all the same, never leave it behind.
        subprocess.run(["umount", "-l", str(mount)], check=True)


READ_ONLY = {"immutable file": immutable, "read-only mount": read_only_mount}


@pytest.mark.parametrize("how", list(READ_ONLY))
@pytest.mark.parametrize("command", [("collect",), ("build",), ("unsubscribe", "eve@x.org")],
                         ids=" ".join)
def test_a_read_only_database_cannot_be_written_and_is_not_called_damaged(
        built: Path, how: str, command: tuple[str, ...]):
    before = db_path(built).read_bytes()
    with READ_ONLY[how](built) as db:
        result = run(built, *command)
        assert result.exit_code == 1, result.output
        line = error_line(result)
        assert f"cannot write state database {db}" in line or \
            f"cannot write lock file {db}.lock" in line  # a read-only mount stops here
        assert "read-only" in line.lower() and f"make {db.parent} writable" in line
        assert "damaged" not in line and "doctor" not in line and "afresh" not in line
    assert db_path(built).read_bytes() == before


@pytest.mark.parametrize("how", list(READ_ONLY))
def test_reading_commands_work_on_a_read_only_database(built: Path, how: str):
    with READ_ONLY[how](built):
        status = run(built, "status")
        assert status.exit_code == 0, status.output
        assert "2 address(es) on the suppression list" in status.output
        preview = run(built, "build", "--preview")
        assert preview.exit_code == 0, preview.output
        assert "nothing to preview" in preview.output  # issue #1 used every sample


# A full disk: a real tmpfs --------------------------------------------------------


@pytest.fixture
def small_disk() -> Iterator[Path]:
    with mount_point() as disk:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)],
            capture_output=True)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        yield disk


def fill(disk: Path, leave: int) -> None:
    """Fill the disk, then give back `leave` bytes."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * PAGE)
    with filler.open("r+b") as f:
        f.truncate(filler.stat().st_size - leave)


def test_a_full_disk_during_collect_is_one_line_and_keeps_the_database(
        sample_project: Path, small_disk: Path):
    db = small_disk / "state.db"
    with sample_project.open("a") as f:
        f.write(f'\n[state]\npath = "{db}"\n')
    assert run(sample_project, "unsubscribe", "ann@example.com").exit_code == 0
    fill(small_disk, leave=16 * PAGE)  # room to open, not for 40 articles

    result = run(sample_project, "collect")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert f"cannot write state database {db}: the disk is full" in line
    assert "damaged" not in line and "afresh" not in line

    (small_disk / "filler").unlink()
    doctor = run(sample_project, "doctor")
    assert doctor.exit_code == 0, doctor.output
    assert "ok (integrity check passed" in doctor.output
    assert "1 unsubscribed address(es)" in doctor.output
    assert run(sample_project, "collect").exit_code == 0  # space again: it just works


# digest doctor ----------------------------------------------------------------------


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_doctor_repairs_and_keeps_suppressions_and_the_delivery_log(built: Path, damage: str):
    db = db_path(built)
    DAMAGE[damage](db)
    damaged = db.read_bytes()

    result = run(built, "doctor")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"state database {db} was damaged" in result.output
    assert "2 unsubscribed address(es) (suppressions)\n" in result.output
    assert "2 delivery log row(s) (deliveries)\n" in result.output
    assert "1 issue(s) (issues)\n" in result.output
    kept = list(db.parent.glob("state.db.damaged-*[0-9Z]"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # kept, unchanged
    assert f"the damaged file is kept as {kept[0]}" in result.output

    status = run(built, "status")
    assert status.exit_code == 0, status.output
    assert "1 pending, 0 sending, 1 delivered" in status.output
    assert "2 address(es) on the suppression list" in status.output
    again = run(built, "doctor")
    assert again.exit_code == 0 and "ok (integrity check passed" in again.output
    assert run(built, "build", "--preview").exit_code == 0


def test_doctor_keeps_the_readable_articles_and_says_what_was_lost(built: Path):
    db = db_path(built)
    scribble_last_page(db)
    result = run(built, "doctor")
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "(articles)" in x)
    kept = int(line.split()[0])
    assert 0 < kept < 42 and "some rows unreadable" in line  # 42 sample articles


def test_doctor_takes_a_lost_identity_back_from_the_issue_folders(built: Path):
    """Issue folders carry the id of the database that built them, and `send` refuses
    a folder with another id: a repair that lost the meta table must not orphan them."""
    db = db_path(built)
    conn = sqlite3.connect(db)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'").fetchone()
    (state_id,) = conn.execute("SELECT value FROM meta").fetchone()
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * PAGE)
        f.write(b"\xab" * PAGE)

    result = run(built, "doctor")
    assert result.exit_code == 0, result.output
    assert "1 identity row(s) of this database (meta)" in result.output
    assert "taken back from the issue folders in" in result.output
    assert "could not be read, so it has a new one" not in result.output
    manifest = next((built.parent / "outbox").glob("*-1/issue.json"))
    assert json.loads(manifest.read_text("utf-8"))["state_id"] == state_id
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT value FROM meta").fetchall() == [(state_id,)]
    conn.close()


def test_doctor_on_a_healthy_database_changes_nothing(built: Path):
    db = db_path(built)
    before = db.read_bytes()
    result = run(built, "doctor")
    assert result.exit_code == 0, result.output
    assert f"state database {db}: ok (integrity check passed; schema {SCHEMA_VERSION};" \
        in result.output
    assert "2 unsubscribed address(es)" in result.output
    assert db.read_bytes() == before
    assert not list(db.parent.glob("state.db.damaged-*"))


def test_doctor_without_a_database(sample_project: Path):
    result = run(sample_project, "doctor")
    assert result.exit_code == 0, result.output
    assert f"no state database at {db_path(sample_project)} yet" in result.output
    assert not db_path(sample_project).exists()


def test_doctor_leaves_a_file_it_cannot_read_at_all_where_it_is(sample_project: Path):
    db = db_path(sample_project)
    db.parent.mkdir(parents=True)
    noise = bytes((i * 7 + 3) % 256 for i in range(3 * PAGE))
    db.write_bytes(noise)
    result = run(sample_project, "doctor")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert f"could not read anything from state database {db}" in line
    assert db.read_bytes() == noise
    assert sorted(p.name for p in db.parent.iterdir() if not p.name.endswith(
        ("-wal", "-shm", ".lock"))) == ["state.db"]


def test_doctor_on_a_newer_schema_says_upgrade_digest(built: Path):
    newer_schema(db_path(built))
    result = run(built, "doctor")
    assert result.exit_code == 1, result.output
    assert "ok (integrity check passed" in result.output
    assert error_line(result).endswith("upgrade digest")

