"""A real PostgreSQL server for the tests: `initdb` and `pg_ctl` (the Debian `postgresql`
package) in a temporary folder, on a free port of 127.0.0.1 and a socket folder of its
own, trust authentication, started once per test session (per xdist worker) and
stopped at its end. Root cannot run initdb: as root the server runs as the `postgres`
user (`runuser`), otherwise as the user running the tests.

Each test gets a database of its own (`fresh_database`): CREATE DATABASE from an empty
template with the C collation, dropped afterwards."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in range(20, 11, -1)]


def find_bin() -> Path | None:
    """The folder with initdb and pg_ctl, or None when PostgreSQL is not installed."""
    for folder in BIN_DIRS:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bin: Path
    folder: Path  # data and socket folders inside
    port: int
    user: str  # the database superuser (the OS user running the server)
    as_root: bool

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def sockets(self) -> Path:
        return self.folder / "sockets"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True,
                              timeout=120, cwd="/")

    def init(self) -> None:
        for folder in (self.data, self.sockets):
            folder.mkdir(parents=True)
        if self.as_root:
            shutil.chown(self.folder, self.user)
            for folder in (self.data, self.sockets):
                shutil.chown(folder, self.user)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user,
                  "--locale=C", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = (f"-k {self.sockets} -p {self.port} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                  "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop",
                  check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' '
                         "LC_COLLATE 'C' LC_CTYPE 'C'")
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        if not self.running():
            return
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_server() -> PostgresServer | str:
    """A started server, or why there is none (the reason the tests skip with)."""
    binary = find_bin()
    if binary is None:
        return "PostgreSQL is not installed (apt-get install postgresql; scripts/test does)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]' psycopg-pool)"
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    if as_root:
        try:
            import pwd

            pwd.getpwnam(user)
        except KeyError:
            return "running as root and there is no `postgres` user to run PostgreSQL as"
    folder = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    os.chmod(folder, 0o755)
    server = PostgresServer(binary, folder, _free_port(), user, as_root)
    try:
        server.init()
        server.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        shutil.rmtree(folder, ignore_errors=True)
        return f"could not start PostgreSQL: {detail.strip().splitlines()[-1:]}"
    return server


def remove(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)
