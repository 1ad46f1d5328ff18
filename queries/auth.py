"""Bearer-token auth for the servers (HTTP API, MCP): where the token comes from, when serving
without one is refused, and the line a server prints at start.

The token is read from a file (`--token-file PATH` or `EXPGRAPH_TOKEN_FILE`) or the environment
(`EXPGRAPH_TOKEN`); `--token` still works but is visible to every user in `ps`. An empty token is
refused at start. Without a token the server answers everyone: allowed on a loopback address
(only this machine reaches it) and said so at start; refused on any other address unless the
caller passes `insecure=True` (`--insecure`).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from expgraph.errors import UsageError

ENV_TOKEN = "EXPGRAPH_TOKEN"
ENV_TOKEN_FILE = "EXPGRAPH_TOKEN_FILE"


class AuthConfigError(UsageError):
    """The token setup cannot be served as given; the message says what to change."""


@dataclass(frozen=True)
class Auth:
    token: str | None
    source: str  # where the token came from ("EXPGRAPH_TOKEN", "token file x", ...) or "none"

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def allows(self, authorization: str | None) -> bool:
        """Does an `Authorization` header value carry the token? Always, when auth is off."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode("utf-8", "surrogateescape"), self.token.encode())


def _from_file(path: Path | str, what: str) -> tuple[str, str]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AuthConfigError(f"cannot read the token file {p} ({what}): "
                              f"{getattr(e, 'strerror', None) or e}") from None
    return text.strip(), f"token file {p}"


def resolve_token(token: str | None = None, token_file: Path | str | None = None,
                  env: Mapping[str, str] | None = None) -> Auth:
    """The token to require, from the first source given: `token_file`, `token`, then the
    environment (`EXPGRAPH_TOKEN_FILE`, `EXPGRAPH_TOKEN`). A source that is given but empty is
    an error, never "no auth"."""
    env = os.environ if env is None else env
    if token_file is not None:
        value, source = _from_file(token_file, "--token-file")
    elif token is not None:
        value, source = token.strip(), "--token (visible in `ps`; prefer EXPGRAPH_TOKEN)"
    elif env.get(ENV_TOKEN_FILE) is not None:
        value, source = _from_file(env[ENV_TOKEN_FILE], ENV_TOKEN_FILE)
    elif env.get(ENV_TOKEN) is not None:
        value, source = env[ENV_TOKEN].strip(), ENV_TOKEN
    else:
        return Auth(None, "none")
    if not value:
        raise AuthConfigError(f"the token from {source.split(' (')[0]} is empty: an empty token "
                              "would let anyone in; give a non-empty secret")
    if any(c.isspace() for c in value) or not value.isprintable():
        raise AuthConfigError(f"the token from {source.split(' (')[0]} holds white space or "
                              "control characters; a bearer token is one printable word")
    return Auth(value, source)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Auth, insecure: bool = False) -> None:
    """Refuse to serve without a token on an address other machines can reach."""
    if auth.enabled or insecure or is_loopback(host):
        return
    raise AuthConfigError(
        f"refusing to serve on {host} without a token: anyone who can reach it could read "
        f"and write the graph. Set {ENV_TOKEN} (or --token-file PATH), bind to 127.0.0.1, "
        "or pass --insecure to serve it open anyway")


def server_auth(token: str | None, token_file: Path | str | None, host: str,
                insecure: bool = False) -> Auth:
    """What a server listening on `host` requires (`resolve_token`), refused where it would be
    open to other machines (`check_bind`): the one rule of `serve` and `mcp`."""
    auth = resolve_token(token, token_file)
    check_bind(host, auth, insecure=insecure)
    return auth


def startup_line(url: str, auth: Auth) -> str:
    """What a server prints at start: where it listens and whether auth is on."""
    if auth.enabled:
        return f"expgraph: serving {url}; auth ON (bearer token from {auth.source})"
    return (f"expgraph: serving {url}; auth OFF: every request is accepted, writes included "
            f"(set {ENV_TOKEN} or --token-file to require a bearer token)")
