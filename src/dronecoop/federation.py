"""Several dronecoop nodes on one machine: a shared DSS and each partner's own USS.

What the demo and the multi-node tests share: each partner gets its own RSA key and
token issuer; one partners file names them all (every node trusts every partner's
issuer, and each record still belongs to its partner); every node has its own store.
``LiveNode`` runs a node's app under uvicorn on a worker thread, on a socket bound before
the app is built (so its URL is known to its settings), until stopped.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from dronecoop.auth.devkeys import load_or_create_private_key, mint_token
from dronecoop.settings import Settings
from dronecoop.trust.roles import Role, role_scope

START_TIMEOUT_S = 30.0
# Peers address each other by URL; the F3548 audience of a call is the host called.
LOOPBACK_AUDIENCES = ["localhost", "127.0.0.1"]


@functools.cache
def _key(path: Path) -> RSAPrivateKey:
    return load_or_create_private_key(path)  # loading checks the key: ~40 ms, do it once


@dataclass(frozen=True, slots=True)
class FederationPartner:
    id: str
    name: str
    issuer: str
    private_key_file: Path
    public_key_file: Path

    def key(self) -> RSAPrivateKey:
        return _key(self.private_key_file)

    def token(self, sub: str, *roles_or_scopes: Role | str, audience: str = "localhost") -> str:
        """A token of this partner (its issuer, signed with its key)."""
        scopes = [role_scope(r) if isinstance(r, Role) else r for r in roles_or_scopes]
        return mint_token(self.key(), sub=sub, scopes=scopes, audience=audience, issuer=self.issuer)


@dataclass(frozen=True, slots=True)
class Federation:
    """Keys and one partners file under ``workdir``, for ``partners``."""

    workdir: Path
    partners: dict[str, FederationPartner]
    partners_file: Path

    @classmethod
    def create(cls, workdir: Path, partners: Iterable[tuple[str, str]]) -> Federation:
        """Write (or reuse) each partner's key pair and the partners file naming them."""
        keys = workdir / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        members: dict[str, FederationPartner] = {}
        lines = []
        for partner_id, name in partners:
            private = keys / f"{partner_id}.key.pem"
            public = keys / f"{partner_id}.pem"
            key = load_or_create_private_key(private)
            public.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            issuer = f"https://auth.{partner_id}.dronecoop.invalid"
            members[partner_id] = FederationPartner(partner_id, name, issuer, private, public)
            lines += [
                f"[partners.{partner_id}]",
                f'name = "{name}"',
                f'issuers = ["{issuer}"]',
                f'public_key_files = ["keys/{public.name}"]',
                "depot = true",
                "",
            ]
        partners_file = workdir / "partners.toml"
        partners_file.write_text("\n".join(lines), encoding="utf-8")
        return cls(workdir, members, partners_file)

    def dss_settings(self, port: int, db_url: str | None = None, **extra: Any) -> Settings:
        """A node that is the shared DSS (and a USS of no one)."""
        return Settings(
            db_url=db_url or f"sqlite:///{self.workdir / 'dss.sqlite3'}",
            port=port,
            partners_file=self.partners_file,
            auth_audiences=LOOPBACK_AUDIENCES,
            **extra,
        )

    def uss_settings(
        self, partner: str, port: int, dss_url: str, db_url: str | None = None, **extra: Any
    ) -> Settings:
        """A node that is ``partner``'s USS on the DSS at ``dss_url``."""
        member = self.partners[partner]
        values: dict[str, Any] = {
            "db_url": db_url or f"sqlite:///{self.workdir / f'{partner}.sqlite3'}",
            "port": port,
            "partners_file": self.partners_file,
            "dss_url": dss_url,
            "uss_partner": partner,
            "uss_signing_key_file": member.private_key_file,
            "uss_token_issuer": member.issuer,
            "auth_audiences": LOOPBACK_AUDIENCES,
        }
        return Settings(**(values | extra))


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (``port`` 0: any free one), to hand to ``LiveNode``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


@dataclass
class LiveNode:
    """A node's app served by uvicorn on a thread of this process."""

    name: str
    settings: Settings
    sock: socket.socket
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.settings.base_url

    def start(self) -> LiveNode:
        from dronecoop.app import create_app

        app = create_app(self.settings)
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name=self.name, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
        self.sock.close()


def start_nodes(nodes: Sequence[LiveNode]) -> list[LiveNode]:
    started = []
    try:
        for node in nodes:
            started.append(node.start())
    except BaseException:
        for node in started:
            node.stop()
        raise
    return started
