"""The mail operator's inbound stack, as private instances for bench/inbound.py.

Postfix (configured by bench/inbound.py) hands every message to rspamd as its
milter and delivers over LMTP to Dovecot, which writes a Maildir and indexes it
with its full-text plugin (fts-xapian) when the plugin is installed. Each
piece here runs from Debian's packages with its own configuration, ports and
folders in the benchmark's temporary folder, started and stopped by the
benchmark; the system services are neither used nor touched.

- ``Redis``: a private redis-server (no persistence) for rspamd's Bayes
  statistics and its other Redis-backed modules.
- ``Rspamd``: the system's rules (``$CONFDIR=/etc/rspamd``) with our own
  ``local.d`` (``--var LOCAL_CONFDIR=…``): the milter proxy and two normal
  workers on loopback ports, the bench's loopback DNS server, loopback clients
  checked like any other (``check_local``: SPF, DMARC), and the modules that
  ask the internet switched off (``DISABLED_MODULES``). Bayes is trained with
  ``--bayes-train`` ham and spam messages (bench/spam_corpus.py) before the
  run, enough for it to classify (``min_learns`` 200; a few are not learned).
- ``Dovecot``: LMTP only, passwd-file users, ``maildir:~/Maildir``, and
  ``fts_xapian`` with ``fts_autoindex`` (indexing right after each delivery).

CPU: ``tree_cpu_seconds`` counts a process tree's user+system time
including the children it has reaped (``cutime``/``cstime``), so the short-lived
processes of Postfix and Dovecot are counted too.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

# Modules that query the internet (DNS lists, rspamd.com's fuzzy storage and ASN zone, URL redirect
# resolution, rule updates) or would refuse loopback load by design (greylisting, rate limits). Against
# the loopback DNS they would only time out and make the peer look slower than a real one.
DISABLED_MODULES = (
    "rbl",
    "fuzzy_check",
    "asn",
    "url_redirector",
    "rspamd_update",
    "greylist",
    "ratelimit",
    "neural",
    "replies",
    "dcc",
    "mx_check",
    "spamassassin",
    "metadata_exporter",
    "clickhouse",
    "elastic",
    "external_services",
    "antivirus",
    "dkim_signing",  # signs what local clients send: outbound work, and our side does not sign inbound mail
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    return children


def tree_cpu_seconds(root: int) -> float:
    """utime+stime+cutime+cstime over a live process tree: also the processes it has already reaped."""
    children, total, todo = _children_map(), 0, [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
        todo += children.get(pid, [])
    return total / clock_ticks()


class Daemon:
    """A foreground subprocess with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], base: Path, env: dict | None = None):
        self.name = name
        self.log_path = base / f"{name}.out"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def wait_port(self, port: int, timeout: float, extra_log: Path | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if port_open(port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up on port {port}:\n{self.tail(extra_log)}")

    def tail(self, extra: Path | None = None) -> str:
        text = self.log_path.read_text(errors="replace")[-2000:]
        if extra and extra.exists():
            text += "\n" + extra.read_text(errors="replace")[-3000:]
        return text

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(5)


class Redis(Daemon):
    def __init__(self, base: Path):
        self.port = free_port()
        base.mkdir(parents=True)
        cmd = [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(self.port), "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(base), "--daemonize", "no"]  # fmt: skip
        super().__init__("redis", cmd, base)
        self.wait_port(self.port, 20)

    def bayes_learns(self) -> dict[str, int]:
        """rspamd's learn counters (hash ``RS``: learns_ham, learns_spam); ``rspamc stat`` reports them late."""
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        out = subprocess.run(  # noqa: S603
            [cli, "-p", str(self.port), "hgetall", "RS"], capture_output=True, text=True, check=False, timeout=30
        ).stdout.split()
        return {k: int(v) for k, v in zip(out[::2], out[1::2], strict=False) if k.startswith("learns") and v.isdigit()}


RSPAMD_CONF = """\
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}}
logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "warning";
}}
worker "normal" {{
    bind_socket = "127.0.0.1:{normal}";
    mime = true;
    count = {normal_count};
}}
worker "controller" {{
    bind_socket = "127.0.0.1:{controller}";
    count = 1;
    secure_ip = "127.0.0.1";
    static_dir = "${{WWWDIR}}";
}}
worker "rspamd_proxy" {{
    bind_socket = "127.0.0.1:{milter}";
    milter = yes;
    timeout = 120s;
    upstream "local" {{
        default = yes;
        hosts = "127.0.0.1:{normal}";
    }}
    count = 1;
    max_retries = 5;
    discard_on_reject = false;
    quarantine_on_reject = false;
    spam_header = "X-Spam";
    reject_message = "Spam message rejected";
}}
"""


class Rspamd(Daemon):
    def __init__(self, base: Path, *, dns: str, redis_port: int, hs_cache: Path, normal_count: int = 2):
        self.milter_port, self.normal_port, self.controller_port = free_port(), free_port(), free_port()
        local = base / "local.d"
        for path in (local, base / "db", base / "run", base / "log"):
            path.mkdir(parents=True)
        hs_cache.mkdir(parents=True, exist_ok=True)
        host, _, port = dns.partition(":")
        (local / "options.inc").write_text(
            f'dns {{ nameserver = ["{host}:{port or 53}"]; timeout = 1s; retransmits = 2; }}\n'
            "check_local = true;\ncheck_authed = true;\n"
            f'hs_cache_dir = "{hs_cache}/";\n'
        )
        (local / "redis.conf").write_text(f'servers = "127.0.0.1:{redis_port}";\n')
        # Results into the delivered message, as ours records Authentication-Results; no ARC sealing of
        # what loopback clients send (verification stays on).
        (local / "milter_headers.conf").write_text(
            'use = ["authentication-results", "x-spam-status"];\nskip_local = false;\nskip_authenticated = false;\n'
        )
        (local / "arc.conf").write_text("sign_local = false;\nsign_authenticated = false;\n")
        for module in DISABLED_MODULES:
            (local / f"{module}.conf").write_text("enabled = false;\n")
        (base / "rspamd.conf").write_text(
            RSPAMD_CONF.format(
                normal=self.normal_port, controller=self.controller_port, milter=self.milter_port,
                normal_count=normal_count,
            )
        )  # fmt: skip
        self.log_file = base / "log" / "rspamd.log"
        user = pwd.getpwnam("_rspamd")
        for path in (base / "db", base / "run", base / "log", hs_cache):
            os.chown(path, user.pw_uid, user.pw_gid)
        variables = {"LOCAL_CONFDIR": base, "DBDIR": base / "db", "RUNDIR": base / "run", "LOGDIR": base / "log"}
        cmd = [shutil.which("rspamd") or "/usr/bin/rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd",
               "-c", str(base / "rspamd.conf")]  # fmt: skip
        for key, value in variables.items():
            cmd += ["--var", f"{key}={value}"]
        super().__init__("rspamd", cmd, base)
        for port in (self.controller_port, self.normal_port, self.milter_port):
            self.wait_port(port, 120, self.log_file)

    def wait_hyperscan(self, timeout: float) -> bool:
        """The regular expressions compiled (the first start compiles them, later ones load the cache)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            if "hyperscan" not in text and time.monotonic() > deadline - timeout + 5:
                return True  # quiet log level: nothing to wait for
            if "finished compiling" in text or "loaded hyperscan" in text or "hs_helper" in text:
                return True
            time.sleep(0.5)
        return False

    def learn(self, kind: str, messages: list[bytes]) -> None:
        """Bayes training through the controller (``rspamc learn_spam|learn_ham``), one message at a time."""
        rspamc = shutil.which("rspamc") or "/usr/bin/rspamc"
        folder = self.log_path.parent / f"learn-{kind}"
        folder.mkdir()
        for i, raw in enumerate(messages):
            (folder / f"{i}.eml").write_bytes(raw)
        done = subprocess.run(  # noqa: S603
            [rspamc, "-h", f"127.0.0.1:{self.controller_port}", "-t", "60", "-n", "4", f"learn_{kind}", str(folder)],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"rspamc learn_{kind} failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")


DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
mail_plugins = {plugins}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {base}/users
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins
}}
plugin {{
{plugin_settings}
}}
"""


def fts_xapian_available() -> bool:
    return Path("/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so").exists()


class Dovecot(Daemon):
    def __init__(self, base: Path, *, users: list[str], vmail: Path, uid: int, fts: bool):
        self.port = free_port()
        self.fts = fts and fts_xapian_available()
        for path in (base / "run", base / "state"):
            path.mkdir(parents=True)
        (base / "users").write_text(
            "".join(f"{u}:{{PLAIN}}bench:{uid}:{uid}::{vmail / u.split('@')[0]}::\n" for u in users)
        )
        plugins = "fts fts_xapian" if self.fts else ""
        plugin_settings = (
            "  fts = xapian\n  fts_xapian = partial=3 full=20 verbose=0\n  fts_autoindex = yes\n  fts_enforced = yes\n"
            if self.fts
            else ""
        )
        (base / "dovecot.conf").write_text(
            DOVECOT_CONF.format(base=base, port=self.port, plugins=plugins, plugin_settings=plugin_settings)
        )
        self.conf = base / "dovecot.conf"
        self.log_file = base / "dovecot.log"
        cmd = [shutil.which("dovecot") or "/usr/sbin/dovecot", "-F", "-c", str(self.conf)]
        super().__init__("dovecot", cmd, base)
        self.wait_port(self.port, 30, self.log_file)

    def errors(self) -> list[str]:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [line for line in text.splitlines() if "Error" in line or "Fatal" in line][:5]
