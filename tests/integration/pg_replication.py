"""A throwaway PostgreSQL primary and its streaming replica, on free ports of this machine.

The primary is a fresh cluster (``initdb``) of its own, so the machine's main server is never
reconfigured; the replica is ``pg_basebackup -R`` of it, replaying its WAL as a hot standby.
Both run as the ``postgres`` system user when the tests run as root (``initdb`` refuses
root) and are stopped and deleted by ``stop()``.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

START_SECONDS = 20


def postgres_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb, or PG_BIN_DIR."""
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    def __init__(self, pair: "ReplicatedPair", name: str):
        self.pair = pair
        self.name = name
        self.data = pair.root / name
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{ReplicatedPair.DATABASE}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.pair.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c wal_level=replica -c max_wal_senders=4 -c hot_standby=on"
        )
        log = self.pair.root / f"{self.name}.log"
        self.pair.run_as_postgres(
            "pg_ctl", "-D", self.data, "-l", log, "-o", options, "-w", "-t", START_SECONDS, "start"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pair.run_as_postgres(
                "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False
            )

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=dbname or ReplicatedPair.DATABASE,
            autocommit=True,
            connect_timeout=5,
        )

    def one(self, sql: str, params=None):
        with self.connect() as conn:
            return conn.execute(sql, params).fetchone()[0]


class ReplicatedPair:
    DATABASE = "costtrack"

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="costtrack-replica-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, user="postgres", group="postgres")
        self.primary = Cluster(self, "primary")
        self.replica = Cluster(self, "replica")

    def run_as_postgres(self, tool: str, *args, check: bool = True):
        command = [str(self.bin_dir / tool), *map(str, args)]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(  # noqa: S603 - fixed tools, arguments built here
            command, check=check, capture_output=True, text=True, timeout=60, cwd=self.root
        )

    def start(self, *, schema_from: dict) -> None:
        """Init and start the primary, copy ``schema_from``'s database into it (PostgreSQL
        settings dict of the test database), then clone and start the replica."""
        self.run_as_postgres(
            "initdb",
            "-D",
            self.primary.data,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "--no-instructions",
        )
        self.primary.start()
        with self.primary.connect("postgres") as conn:
            conn.execute(f"CREATE DATABASE {self.DATABASE}")
        self._copy_database(schema_from)
        self.run_as_postgres(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            self.primary.port,
            "-U",
            "postgres",
            "-D",
            self.replica.data,
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
        )
        self.replica.start()
        if not self.replica.one("SELECT pg_is_in_recovery()"):
            raise RuntimeError("the replica is not in recovery")

    def _copy_database(self, source: dict) -> None:
        dump = subprocess.run(  # noqa: S603 - fixed tool, arguments built here
            [
                str(self.bin_dir / "pg_dump"),
                "--no-owner",
                "--no-privileges",
                "-h",
                source.get("HOST") or "127.0.0.1",
                "-p",
                str(source.get("PORT") or 5432),
                "-U",
                source.get("USER") or "postgres",
                source["NAME"],
            ],
            check=True,
            capture_output=True,
            timeout=60,
            env={**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""},
        )
        subprocess.run(  # noqa: S603 - fixed tool, arguments built here
            [
                str(self.bin_dir / "psql"),
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                self.DATABASE,
            ],
            input=dump.stdout,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def wait_replayed(self, timeout: float = 15) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        target = self.primary.one("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replica.one("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]):
                return
            time.sleep(0.05)
        raise TimeoutError(f"the replica did not replay up to {target} in {timeout}s")

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        self.replica.stop()
        self.primary.stop()
        shutil.rmtree(self.root, ignore_errors=True)
