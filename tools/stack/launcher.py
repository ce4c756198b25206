"""The local stack: Caddy, webhooks and N audio replicas on loopback, one launcher.

``make run`` and the end-to-end tests both use ``Stack``, so what users run is what
is tested. The layout mirrors compose.yaml: the same Caddyfile, the same service
code, and audio replicas found through DNS. Each replica has its own loopback
address (127.0.0.2, 127.0.0.3, ...) on one shared port, and a small DNS responder
answers the replica name with the addresses of those that are up, as Docker's
DNS does for ``--scale audio=N``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import signal
import ssl
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx

from audio_socket.handlers import BUILT_IN, describe_handler
from stack.caddy import (
    LOOPBACK,
    MAX_SOCKET_PATH_BYTES,
    CaddyAdmin,
    CaddyPlaceholders,
    caddy_argv,
    caddy_environment,
)
from stack.config import MAX_REPLICAS, Replica, StackConfig
from stack.dns import DnsResponder
from stack.errors import (
    PortClaim,
    SocketPathTooLong,
    StackError,
    StartupFailed,
    StateDirUnusable,
)
from stack.paths import REPO_ROOT, StatePaths, find_tool
from stack.ports import check_free, pick_free_port
from stack.processes import ManagedProcess, wait_until
from stack.run_secrets import (
    SECRET_NAMES,
    SIGNATURE_SECRET,
    SOCKET_SECRET,
    StackSecrets,
    resolve_secrets,
    write_secrets_env,
)
from stack.state_lock import StateLock
from stack.voice_api import VoiceApiFiles, new_link_token, prepare_voice_api, write_api_env

__all__ = ["Replica", "Stack", "StackConfig"]

FIRST_REPLICA_ADDRESS: Final = ipaddress.IPv4Address("127.0.0.2")
#: What a stop allows on top of DRAIN_TIMEOUT before it kills a replica: a hang-up
#: begun just before the drain ends takes up to ~17 s (audio_socket/call_control.py).
STOP_MARGIN: Final = 20.0
#: Seconds between two looks at whether Caddy would route to a replica.
ROUTABLE_POLL: Final = 0.2
#: The audio service's gauge of calls in progress (audio_socket/metrics.py).
_CALLS_ACTIVE: Final = re.compile(r"^audio_calls_active (\S+)$", re.MULTILINE)
#: Variables the launcher sets for every run; the caller's values are replaced. The
#: Vonage application of a local run is the simulator's (tools/stack/voice_api.py).
_LISTEN_VARIABLES: Final = (
    "WEBHOOKS_HOST",
    "WEBHOOKS_PORT",
    "AUDIO_HOST",
    "AUDIO_PORT",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_PRIVATE_KEY_PATH",
    "VONAGE_API_HOST",
    "REQUESTS_CA_BUNDLE",
)


class Stack:
    """The local stack as a context manager: started on enter, stopped on exit."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.paths = StatePaths(config.state_dir)
        self._state_lock = StateLock(config.state_dir)
        self.secrets: StackSecrets = resolve_secrets(config.environ)
        self.replicas: list[Replica] = []
        self._lock = threading.Lock()
        self._hurry = threading.Event()
        self._python = sys.executable
        self._caddy_binary = find_tool("caddy")
        self._placeholders: CaddyPlaceholders | None = None
        self._dns: DnsResponder | None = None
        self.webhooks: ManagedProcess | None = None
        #: The simulator's Voice REST API (tools/stack/voice_api.py) and its files.
        self.voice_api: ManagedProcess | None = None
        self.voice_api_files: VoiceApiFiles | None = None
        self.voice_api_host = ""
        #: What the simulator's processes open their link to the API with.
        self.voice_api_token = ""
        self.caddy: ManagedProcess | None = None

    # What tests and the CLI read

    @property
    def placeholders(self) -> CaddyPlaceholders:
        """The ports and names of this run (known once started)."""
        if self._placeholders is None:
            raise StackError("the stack is not started")
        return self._placeholders

    @property
    def public_host(self) -> str:
        """``localhost:PORT``."""
        return self.placeholders.public_host

    @property
    def base_url(self) -> str:
        """``https://localhost:PORT``: Caddy, the only way in."""
        return f"https://{self.public_host}"

    @property
    def cafile(self) -> Path:
        """The local CA's root certificate: trust it to verify ``base_url``."""
        return self.paths.cafile

    @property
    def webhooks_url(self) -> str:
        """The webhooks service's own base URL, not through Caddy."""
        return f"http://{LOOPBACK}:{self.placeholders.webhooks_port}"

    @property
    def admin(self) -> CaddyAdmin:
        """Caddy's admin API, on its unix socket in the state folder."""
        return CaddyAdmin(self.placeholders.admin_socket)

    @property
    def dns_address(self) -> str:
        """``host:port`` of the DNS responder."""
        return self.placeholders.resolver

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies against the local CA only."""
        return ssl.create_default_context(cafile=str(self.cafile))

    @property
    def handler(self) -> str:
        """The call handler the replicas load, in the words of their ``listening`` log."""
        environ = self.config.environ
        delay = environ.get("ECHO_DELAY_MS", "")
        return describe_handler(
            environ.get("AUDIO_HANDLER") or BUILT_IN, int(delay) if delay.isdigit() else 0
        )

    def live_calls(self) -> dict[str, int]:
        """Calls in progress on each running replica, read from its ``/metrics``.

        A replica that does not answer within a second is left out: this is for
        messages, never for a decision.
        """
        counts: dict[str, int] = {}
        for replica in self.replicas:
            if not replica.process.alive:
                continue
            try:
                metrics = httpx.get(f"{replica.url}/metrics", timeout=1.0, trust_env=False)
            except httpx.HTTPError:
                continue
            if found := _CALLS_ACTIVE.search(metrics.text):
                counts[replica.name] = int(float(found[1]))
        return counts

    def listed_addresses(self) -> list[str]:
        """The replica addresses DNS answers with now."""
        with self._lock:
            return [replica.address for replica in self.replicas if replica.listed]

    # Starting

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything and wait until Caddy answers through TLS.

        The state folder is locked and the ports are checked before anything starts
        or is written (``StateDirInUse``, ``PortsInUse``); on any later failure, what
        was started is stopped again and ``StackError`` says why. The previous run's
        logs move to ``logs.prev/``.
        """
        admin_socket = self.paths.caddy_admin
        if len(os.fsencode(admin_socket)) > MAX_SOCKET_PATH_BYTES:
            raise SocketPathTooLong(admin_socket, MAX_SOCKET_PATH_BYTES)
        try:
            self._state_lock.acquire()  # before anything is written to the folder
        except OSError as exc:
            raise StateDirUnusable(self.paths.root, exc) from None
        try:
            self._placeholders = self._reserve_ports()
            self._prepare_state_dir()
            self._start_dns()
            self._start_voice_api()
            self._start_services()
            self._start_caddy()
        except BaseException:
            self.stop()
            raise
        self._state_lock.describe(f"pid {os.getpid()}, {self.base_url}")

    def _prepare_state_dir(self) -> None:
        try:
            self.paths.rotate_logs()
            self.paths.create()
            # A socket left by a Caddy that was killed: this run holds the folder's lock.
            self.paths.caddy_admin.unlink(missing_ok=True)
            write_secrets_env(self.paths.secrets_env, self.secrets)
        except OSError as exc:
            raise StateDirUnusable(self.paths.root, exc) from None

    def _reserve_ports(self) -> CaddyPlaceholders:
        config = self.config
        addresses = [self._replica_address(i) for i in range(1, config.audio_replicas + 1)]
        claims: list[PortClaim] = []
        ports: dict[str, int] = {}
        chosen: list[int] = []
        wanted = (
            ("https", config.https_port, [LOOPBACK], "Caddy HTTPS", "--https-port"),
            ("webhooks", config.webhooks_port, [LOOPBACK], "webhooks", "--webhooks-port"),
            ("audio", config.audio_port, addresses, "audio replicas", "--audio-port"),
        )
        for key, port, hosts, purpose, option in wanted:
            if port:
                claims.extend(PortClaim(host, port, purpose, option) for host in hosts)
                ports[key] = port
            else:
                ports[key] = pick_free_port(hosts, avoid=chosen)
            chosen.append(ports[key])
        check_free(claims)
        # Caddy opens no HTTP listener for a localhost site with redirects off; the
        # port only has to be a valid one that is not 80 (no privileges needed).
        http_port = pick_free_port([LOOPBACK], avoid=chosen)
        return CaddyPlaceholders(
            https_port=ports["https"],
            http_port=http_port,
            admin_socket=self.paths.caddy_admin,
            webhooks_port=ports["webhooks"],
            replica_name=config.replica_name,
            audio_port=ports["audio"],
            resolver="",  # the DNS responder's, once it is bound
        )

    def _start_dns(self) -> None:
        self._dns = DnsResponder(self.config.replica_name, self.listed_addresses, LOOPBACK)
        self._dns.start()
        self._placeholders = dataclasses.replace(
            self.placeholders, resolver=self._dns.resolver_address
        )

    def _start_voice_api(self) -> None:
        """The simulator's Voice REST API, before the services that are pointed at it."""
        files = self.voice_api_files = prepare_voice_api(self.paths.root)
        port = pick_free_port([LOOPBACK], avoid=list(self._reserved_ports()))
        self.voice_api_host = f"{LOOPBACK}:{port}"
        token = self.voice_api_token = new_link_token()
        write_api_env(files, self.voice_api_host, token)
        env = {k: v for k, v in self.config.environ.items() if k not in _LISTEN_VARIABLES}
        env["SIMULATOR_API_TOKEN"] = token
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        argv = [
            self._python, "-m", "simulator", "api",
            "--host", LOOPBACK, "--port", str(port),
            "--application-id", files.application_id,
            "--public-key", str(files.public_key),
            "--certfile", str(files.certfile),
            "--keyfile", str(files.keyfile),
        ]  # fmt: skip
        self.voice_api = ManagedProcess(
            "voice-api", argv, env, cwd=self.paths.root, log_path=self.paths.logs / "voice-api.log"
        )
        self.voice_api.start()
        wait_until(
            self._voice_api_listening,
            f"the simulator's Voice REST API (https://{self.voice_api_host})",
            self.config.startup_timeout,
            [self.voice_api],
        )

    def _reserved_ports(self) -> set[int]:
        p = self.placeholders
        return {p.https_port, p.http_port, p.webhooks_port, p.audio_port}

    def _voice_api_listening(self) -> bool:
        files = self.voice_api_files
        if files is None:
            return False
        context = ssl.create_default_context(cafile=str(files.ca))
        try:
            with httpx.Client(verify=context, trust_env=False, timeout=2.0) as client:
                # No JWT: 401 is the answer of a listening API.
                status = client.get(f"https://{self.voice_api_host}/v1/calls/none").status_code
                return status == httpx.codes.UNAUTHORIZED
        except (httpx.HTTPError, ssl.SSLError):
            return False

    def _start_services(self) -> None:
        self.webhooks = self._service_process("webhooks", self._webhooks_env())
        self.webhooks.start()
        for _ in range(self.config.audio_replicas):
            self._launch_replica()
        self._wait_healthy(self.webhooks, f"{self.webhooks_url}/healthz")
        for replica in list(self.replicas):
            self._wait_replica(replica)

    def _start_caddy(self) -> None:
        env = caddy_environment(self.placeholders, self.paths, self.config.environ)
        self.caddy = ManagedProcess(
            "caddy",
            caddy_argv(self._caddy_binary),
            env,
            cwd=self.paths.root,
            log_path=self.paths.logs / "caddy.log",
        )
        self.caddy.start()
        caddy = self.caddy
        wait_until(self.admin.is_up, "Caddy's admin API", self.config.startup_timeout, [caddy])
        wait_until(
            self._answers_through_tls, "Caddy over TLS", self.config.startup_timeout, [caddy]
        )

    def _answers_through_tls(self) -> bool:
        # The local CA's root appears once Caddy has issued the localhost certificate;
        # then `/` must be Caddy's own 404, verified against that root.
        if not self.cafile.is_file():
            return False
        try:
            with httpx.Client(verify=self.ssl_context(), trust_env=False, timeout=2.0) as client:
                return client.get(f"{self.base_url}/").status_code == httpx.codes.NOT_FOUND
        except (httpx.HTTPError, ssl.SSLError):
            return False

    # Services

    def _service_env(self, secrets: Sequence[str]) -> dict[str, str]:
        """A service's environment, with only the run's ``secrets`` it uses (docs/security.md)."""
        dropped = {*_LISTEN_VARIABLES, *SECRET_NAMES}
        env = {k: v for k, v in self.config.environ.items() if k not in dropped}
        env.update({name: self.secrets.as_env()[name] for name in secrets})
        env["PUBLIC_HOST"] = self.public_host
        env["PYTHONUNBUFFERED"] = "1"
        files = self.voice_api_files
        if files is not None:
            # Call control and outbound calls go to the simulator's REST API, signed
            # with the local application's key, over TLS the SDK is made to trust.
            env["VONAGE_APPLICATION_ID"] = files.application_id
            env["VONAGE_PRIVATE_KEY_PATH"] = str(files.private_key)
            env["VONAGE_API_HOST"] = self.voice_api_host
            env["REQUESTS_CA_BUNDLE"] = str(files.ca)
        # The services import from the checkout, wherever the launcher runs from.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def service_environment(self) -> dict[str, str]:
        """What the webhooks service of this run sees: e.g. for ``python -m webhooks dial``."""
        return self._service_env((SIGNATURE_SECRET, SOCKET_SECRET))

    def _webhooks_env(self) -> dict[str, str]:
        # It checks signed webhooks and mints socket credentials.
        env = self._service_env((SIGNATURE_SECRET, SOCKET_SECRET))
        env["WEBHOOKS_HOST"] = LOOPBACK
        env["WEBHOOKS_PORT"] = str(self.placeholders.webhooks_port)
        return env

    def _service_process(self, name: str, env: Mapping[str, str]) -> ManagedProcess:
        module = "audio_socket" if name.startswith("audio") else name
        # The working directory is the state folder: the services read `.env` from
        # theirs, and every setting of a local run comes from `environ` instead.
        return ManagedProcess(
            name,
            [self._python, "-m", module],
            env,
            cwd=self.paths.root,
            log_path=self.paths.logs / f"{name}.log",
        )

    def _wait_healthy(self, process: ManagedProcess, url: str) -> None:
        def healthy() -> bool:
            try:
                return httpx.get(url, timeout=1.0, trust_env=False).status_code == httpx.codes.OK
            except httpx.HTTPError:
                return False

        wait_until(healthy, f"{process.name} ({url})", self.config.startup_timeout, [process])

    # Replicas

    def _replica_address(self, index: int) -> str:
        return str(FIRST_REPLICA_ADDRESS + (index - 1))

    def _launch_replica(self) -> Replica:
        index = len(self.replicas) + 1
        if index > MAX_REPLICAS:
            raise StackError(f"at most {MAX_REPLICAS} audio replicas")
        address = self._replica_address(index)
        # It checks socket credentials only: the signature secret never reaches it.
        env = self._service_env((SOCKET_SECRET,))
        env["AUDIO_HOST"] = address
        env["AUDIO_PORT"] = str(self.placeholders.audio_port)
        replica = Replica(
            index,
            address,
            self.placeholders.audio_port,
            self._service_process(f"audio-{index}", env),
        )
        with self._lock:
            self.replicas.append(replica)
        replica.process.start()
        return replica

    def _wait_replica(self, replica: Replica) -> None:
        self._wait_healthy(replica.process, f"{replica.url}/healthz")
        with self._lock:
            replica.in_dns = True

    def add_replica(self) -> Replica:
        """Start one more replica on the next address; return once Caddy routes to it."""
        address = self._replica_address(len(self.replicas) + 1)
        claim = PortClaim(address, self.placeholders.audio_port, "audio replicas")
        check_free([claim])
        replica = self._launch_replica()
        self._wait_replica(replica)
        self.wait_routable(replica)
        return replica

    def start_replica(self, replica: Replica) -> None:
        """Start a stopped replica again, on its address; return once Caddy routes to it."""
        with self._lock:
            replica.pinned_in_dns = False
        replica.process.start()
        self._wait_replica(replica)
        self.wait_routable(replica)

    def wait_routable(self, replica: Replica, timeout: float | None = None) -> None:
        """Until Caddy would pick ``replica`` for a new call.

        That is: Caddy's DNS lookup has returned its address since it was listed,
        and Caddy holds no recent failure against it (``fail_duration``). Caddy
        looks the name up only while serving a request, at most once per ``refresh``,
        so requests to ``/socket`` without a credential (refused with 401 by a
        replica, which is no failure) prompt the lookups.
        """
        if self._dns is None:
            raise StackError("the stack is not started")
        resolver = self._dns.resolver
        dial = f"{replica.address}:{replica.port}"
        mark = resolver.answers
        discovered = False
        deadline = time.monotonic() + (timeout or self.config.startup_timeout)
        while True:
            if not discovered:
                self._probe_socket_route()
                answer = resolver.wait_answer(mark, ROUTABLE_POLL)
                if answer is not None:
                    mark = resolver.answers
                    discovered = replica.address in answer
            elif all(u["fails"] == 0 for u in self.admin.upstreams() if u["address"] == dial):
                return
            else:
                time.sleep(ROUTABLE_POLL)
            if time.monotonic() > deadline:
                what = "known to" if discovered else "discovered by"
                raise StartupFailed(f"{replica.name} not {what} Caddy in time")

    def _probe_socket_route(self) -> None:
        try:
            with httpx.Client(verify=self.ssl_context(), trust_env=False, timeout=2.0) as client:
                client.get(f"{self.base_url}/socket")
        except httpx.HTTPError:
            pass

    def stop_replica(
        self, replica: Replica, *, wait: bool = True, keep_in_dns: bool = False
    ) -> int | None:
        """SIGTERM: the replica drains (docs/architecture.md). Unlisted from DNS at once.

        With ``wait``, returns its exit status once it has exited (SIGKILL after
        DRAIN_TIMEOUT and a margin).
        """
        self._unlist(replica, keep_in_dns)
        replica.process.send_signal(signal.SIGTERM)
        if not wait:
            return None
        # Only one SIGTERM: a second one tells the replica to stop draining.
        return replica.process.stop(None, timeout=self.config.drain_timeout + STOP_MARGIN)

    def kill_replica(self, replica: Replica, *, keep_in_dns: bool = False) -> int | None:
        """SIGKILL, as a crash; ``keep_in_dns`` leaves a dead replica in DNS."""
        self._unlist(replica, keep_in_dns)
        return replica.process.stop(signal.SIGKILL)

    def _unlist(self, replica: Replica, keep_in_dns: bool) -> None:
        with self._lock:
            replica.in_dns = keep_in_dns
            replica.pinned_in_dns = keep_in_dns

    # Caddy

    def reload_caddy(self) -> None:
        """Reload Caddy's config from the Caddyfile through the admin API."""
        self.admin.load_caddyfile()

    # Stopping

    def hurry(self) -> None:
        """Cut the stop short: whatever has not exited yet is killed."""
        self._hurry.set()

    def stop(self) -> None:
        """Stop everything started, in order; safe to call more than once.

        Audio replicas get SIGTERM and drain (up to DRAIN_TIMEOUT) while webhooks and
        Caddy still run: a drained call's events, and its reconnect, go through them.
        Then webhooks, then Caddy, then the DNS responder; last, the state folder's
        lock is released.
        """
        with self._lock:
            for replica in self.replicas:
                replica.in_dns = replica.pinned_in_dns = False
        for replica in self.replicas:
            replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            replica.process.stop(None, self.config.drain_timeout + STOP_MARGIN, self._hurry)
        if self.webhooks is not None:
            self.webhooks.stop(timeout=10.0, cancel=self._hurry)
        if self.voice_api is not None:
            self.voice_api.stop(timeout=10.0, cancel=self._hurry)
        if self.voice_api_files is not None:
            # The simulator would otherwise try to link to an API that is gone.
            self.voice_api_files.env_file.unlink(missing_ok=True)
        if self.caddy is not None:
            self.caddy.stop(timeout=15.0, cancel=self._hurry)
        if self._dns is not None:
            self._dns.stop()
            self._dns = None
        self._state_lock.release()
