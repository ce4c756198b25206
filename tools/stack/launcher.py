"""The local stack: Caddy, webhooks and N audio replicas on loopback, one launcher.

``make run`` and the end-to-end tests both use ``Stack``, so what users run is what
is tested. The layout mirrors compose.yaml: the same Caddyfile, the same service
code, and audio replicas found through DNS (``stack.replicas``). This module is
the order things start and stop in; each process's environment comes from
``stack.environment``, and what tests do to a running stack is ``stack.testing``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import ssl
import sys
import threading
from pathlib import Path
from types import TracebackType

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
from stack.config import Replica, StackConfig
from stack.dns import DnsResponder
from stack.environment import (
    WEBHOOKS_SECRETS,
    RunEnvironment,
    VoiceApiTarget,
    service_env,
    voice_api_env,
    webhooks_env,
)
from stack.errors import SocketPathTooLong, StackError, StateDirUnusable
from stack.leftovers import ProcessRecord, check_no_leftovers
from stack.local_application import VoiceApiFiles, new_link_token, prepare_voice_api, write_api_env
from stack.paths import StatePaths, find_tool
from stack.ports import pick_free_port, reserve_ports
from stack.processes import ManagedProcess, service_process, wait_healthy, wait_until
from stack.replicas import ReplicaSet
from stack.run_secrets import StackSecrets, resolve_secrets, write_secrets_env
from stack.state_lock import StateLock
from stack.testing import StackTestHooks

__all__ = ["Replica", "Stack", "StackConfig"]


class Stack:
    """The local stack as a context manager: started on enter, stopped on exit."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.paths = StatePaths(config.state_dir)
        self._state_lock = StateLock(config.state_dir)
        self.secrets: StackSecrets = resolve_secrets(config.environ)
        #: Each child's pid, command line and start time, in the state folder.
        self.record = ProcessRecord(config.state_dir)
        self.replica_set = ReplicaSet(config, self.paths, self.record)
        self._hurry = threading.Event()
        self._caddy_binary = find_tool("caddy")
        self._placeholders: CaddyPlaceholders | None = None
        self.dns: DnsResponder | None = None
        self.webhooks: ManagedProcess | None = None
        #: The simulator's Voice REST API (tools/stack/local_application.py) and its files.
        self.voice_api: ManagedProcess | None = None
        self.voice_api_files: VoiceApiFiles | None = None
        self.voice_api_host = ""
        #: What the simulator's processes open their link to the API with.
        self.voice_api_token = ""
        self.caddy: ManagedProcess | None = None
        #: What tests do to break or poke the running stack; ``make run`` never does.
        self.testing = StackTestHooks(self)

    # What tests and the CLI read

    @property
    def replicas(self) -> list[Replica]:
        """The audio replicas, in the order they were first started."""
        return self.replica_set.replicas

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
        """Calls in progress on each running replica (``ReplicaSet.live_calls``)."""
        return self.replica_set.live_calls()

    def listed_addresses(self) -> list[str]:
        """The replica addresses DNS answers with now."""
        return self.replica_set.listed_addresses()

    def run_environment(self) -> RunEnvironment:
        """What every service of this run shares (``stack.environment``)."""
        files = self.voice_api_files
        api = None
        if files is not None:
            api = VoiceApiTarget(
                self.voice_api_host, files.application_id, files.private_key, files.ca
            )
        return RunEnvironment(self.config.environ, self.secrets, self.public_host, api)

    def service_environment(self) -> dict[str, str]:
        """What the webhooks service of this run sees: e.g. for ``python -m webhooks dial``."""
        return service_env(self.run_environment(), WEBHOOKS_SECRETS)

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

        The state folder is locked, what an earlier run on it left running is named,
        and the ports are checked before anything starts or is written
        (``StateDirInUse``, ``LeftoverProcesses``, ``PortsInUse``); on any later
        failure, what was started is stopped again and ``StackError`` says why. The
        previous run's logs move to ``logs.prev/``.
        """
        admin_socket = self.paths.caddy_admin
        if len(os.fsencode(admin_socket)) > MAX_SOCKET_PATH_BYTES:
            raise SocketPathTooLong(admin_socket, MAX_SOCKET_PATH_BYTES)
        try:
            self._state_lock.acquire()  # before anything is written to the folder
        except OSError as exc:
            raise StateDirUnusable(self.paths.root, exc) from None
        try:
            check_no_leftovers(self.paths.root)
            self._placeholders = reserve_ports(self.config, admin_socket)
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
            self.record.begin()
        except OSError as exc:
            raise StateDirUnusable(self.paths.root, exc) from None

    def _start_dns(self) -> None:
        self.dns = DnsResponder(self.config.replica_name, self.listed_addresses, LOOPBACK)
        self.dns.start()
        self._placeholders = dataclasses.replace(
            self.placeholders, resolver=self.dns.resolver_address
        )

    def _start_voice_api(self) -> None:
        """The simulator's Voice REST API, before the services that are pointed at it."""
        files = self.voice_api_files = prepare_voice_api(self.paths.root)
        port = pick_free_port([LOOPBACK], avoid=list(self._reserved_ports()))
        self.voice_api_host = f"{LOOPBACK}:{port}"
        token = self.voice_api_token = new_link_token()
        write_api_env(files, self.voice_api_host, token)
        argv = [
            sys.executable, "-m", "simulator", "api",
            "--host", LOOPBACK, "--port", str(port),
            "--application-id", files.application_id,
            "--public-key", str(files.public_key),
            "--certfile", str(files.certfile),
            "--keyfile", str(files.keyfile),
        ]  # fmt: skip
        env = voice_api_env(self.config.environ, token)
        log_path = self.paths.logs / "voice-api.log"
        self.voice_api = ManagedProcess(
            "voice-api", argv, env, self.paths.root, log_path, record=self.record
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
        run = self.run_environment()
        env = webhooks_env(run, self.placeholders.webhooks_port)
        self.webhooks = service_process("webhooks", "webhooks", env, self.paths, self.record)
        self.webhooks.start()
        self.replica_set.start(run, self.placeholders.audio_port)
        timeout = self.config.startup_timeout
        wait_healthy(self.webhooks, f"{self.webhooks_url}/healthz", timeout)
        for replica in list(self.replicas):
            self.replica_set.wait_listed(replica)

    def _start_caddy(self) -> None:
        env = caddy_environment(self.placeholders, self.paths, self.config.environ)
        log_path = self.paths.logs / "caddy.log"
        argv = caddy_argv(self._caddy_binary)
        caddy = ManagedProcess("caddy", argv, env, self.paths.root, log_path, record=self.record)
        self.caddy = caddy
        caddy.start()
        timeout = self.config.startup_timeout
        wait_until(self.admin.is_up, "Caddy's admin API", timeout, [caddy])
        wait_until(self._answers_through_tls, "Caddy over TLS", timeout, [caddy])

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

    # Stopping

    def hurry(self) -> None:
        """Cut the stop short: whatever has not exited yet is killed."""
        self._hurry.set()

    def stop(self) -> None:
        """Stop everything started, in order; safe to call more than once.

        Audio replicas get SIGTERM and drain (up to DRAIN_TIMEOUT) while webhooks and
        Caddy still run: a drained call's events, and its reconnect, go through them.
        Then webhooks, then Caddy, then the DNS responder; last, the record of the
        run's processes is removed (none runs now) and the state folder's lock is
        released.
        """
        self.replica_set.drain_all(self._hurry)
        if self.webhooks is not None:
            self.webhooks.stop(timeout=10.0, cancel=self._hurry)
        if self.voice_api is not None:
            self.voice_api.stop(timeout=10.0, cancel=self._hurry)
        if self.voice_api_files is not None:
            # The simulator would otherwise try to link to an API that is gone.
            self.voice_api_files.env_file.unlink(missing_ok=True)
        if self.caddy is not None:
            self.caddy.stop(timeout=15.0, cancel=self._hurry)
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        with contextlib.suppress(OSError):
            self.record.clear()
        self._state_lock.release()
