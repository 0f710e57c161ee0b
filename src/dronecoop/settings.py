"""The one settings object, read at start-up from ``DRONECOOP_*`` variables and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DB_URL = "sqlite:///var/dronecoop.sqlite3"


def _split_list(value: object) -> object:
    """Accept comma-separated strings for list settings (``a,b``) as well as JSON lists."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            import json

            return json.loads(stripped)
        return [item.strip() for item in stripped.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything a dronecoop node is configured with."""

    model_config = SettingsConfigDict(env_prefix="DRONECOOP_", extra="ignore")

    db_url: str = Field(
        default=DEFAULT_DB_URL,
        description="SQLAlchemy URL: sqlite:///PATH (embedded) or postgresql+psycopg://...",
    )
    host: str = "127.0.0.1"
    port: int = 8082
    public_base_url: str = Field(
        default="",
        description="URL peers use to reach this node; defaults to http://HOST:PORT.",
    )

    # Auth: RS256 bearer JWTs.
    auth_public_key_files: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    auth_jwks_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    auth_audiences: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["localhost"])
    auth_issuers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Accepted `iss` values; empty accepts any issuer."
    )
    partners_file: Path | None = Field(
        default=None,
        description="TOML file naming the partners, their token issuers and keys (README: "
        "Partners). Without it the node has one partner, `local`, trusting the auth_* keys.",
    )
    dev_signing_key_file: Path | None = Field(
        default=None,
        description="Private PEM key whose public half is trusted and which `dronecoop token` "
        "signs with; created on first use. Development only.",
    )

    # The partner's USS on the wire (F3548): which DSS, and how it proves who it is.
    dss_url: str = Field(
        default="",
        description="A remote DSS (its base URL, /dss/v1 is appended); empty: this node's own.",
    )
    uss_partner: str = Field(
        default="",
        description="The partner whose USS this node is towards a remote DSS and peer USSs "
        "(its DSS manager id is `<partner>-uss`). Required with dss_url.",
    )
    uss_signing_key_file: Path | None = Field(
        default=None,
        description="The partner's private PEM key this node signs its client tokens with "
        "(peers and the DSS trust its public half). Defaults to the dev signing key.",
    )
    uss_token_issuer: str = Field(
        default="", description="`iss` of those tokens: one of the partner's issuers."
    )
    uss_token_kid: str | None = Field(default=None, description="`kid` of those tokens.")
    uss_oauth_token_url: str = Field(
        default="",
        description="Instead of signing its own tokens: an OAuth 2.0 token endpoint for the "
        "client credentials grant (with uss_oauth_client_id / uss_oauth_client_secret).",
    )
    uss_oauth_client_id: str = ""
    uss_oauth_client_secret: SecretStr = SecretStr("")
    peer_timeout_s: float = Field(
        default=3.0, description="How long to wait for a peer USS or a remote DSS."
    )

    max_request_bytes: int = 1_000_000
    max_log_bytes: int = Field(
        default=512 * 1024 * 1024, description="Largest flight log an upload may send."
    )
    data_dir: Path = Field(
        default=Path("var/data"), description="Where uploaded flight logs are kept (by hash)."
    )
    rate_limit_per_s: float = Field(
        default=200.0,
        description="Requests per second each caller (partner/subject) may sustain; 0: off.",
    )
    rate_limit_burst: int = Field(default=400, description="Requests a caller may make at once.")
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Web origins allowed to call the API from a browser; none by default.",
    )
    cleanup_interval_s: float = 60.0
    opentelemetry: bool = Field(
        default=False,
        description="Let FastAPI trace requests and record metrics through the OpenTelemetry "
        "providers the process configures (e.g. under opentelemetry-instrument).",
    )
    audit_seal_interval_s: float = Field(
        default=1.0, description="How often pending audit events are linked into the chain."
    )

    @field_validator(
        "auth_public_key_files",
        "auth_jwks_urls",
        "auth_audiences",
        "auth_issuers",
        "cors_allow_origins",
        mode="before",
    )
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split_list(value)

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"
