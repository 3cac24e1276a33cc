"""Bearer tokens: created by the CLI, shown once, stored as sha256; every request resolves to its owner.

Tokens may expire; their last use is recorded (to the minute). Revoking a token cancels its queued jobs and
stops its running ones: what a revoked tenant started does not go on using the machine.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from server.db import Token, utcnow
from server.jobstore import JobStore

LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token and minute

TOKEN_PREFIX = "tshub_"


class AuthError(PermissionError):
    pass


@dataclass(frozen=True)
class Owner:
    id: str
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(Session: sessionmaker, name: str, expires_at: datetime | None = None) -> tuple[Owner, str]:
    """A new random token (valid until ``expires_at``, None: until revoked); returns its owner and the clear
    token (not recoverable later)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with Session.begin() as session:
        row = Token(name=name, token_hash=hash_token(token), expires_at=expires_at)
        session.add(row)
    return Owner(row.id, row.name), token


def revoke_token(Session: sessionmaker, token_id: str) -> bool:
    """Revoke a token and cancel its jobs; False when no active token has this id."""
    with Session.begin() as session:
        revoked = (
            session.execute(
                update(Token).where(Token.id == token_id, Token.revoked_at.is_(None)).values(revoked_at=utcnow())
            ).rowcount
            == 1
        )
    if revoked:
        JobStore(Session).cancel_all(token_id, "cancelled: the token that created it was revoked")
    return revoked


def authenticate(Session: sessionmaker, token: str) -> Owner:
    """The owner of a valid, unrevoked, unexpired token (its last use recorded); AuthError otherwise."""
    with Session() as session:
        row = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked token; create one with `tshub token create --name NAME`")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError(
            f"token expired on {row.expires_at:%Y-%m-%d %H:%M} UTC; ask the operator for a new one "
            "(`tshub token create --name NAME`)"
        )
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        with Session.begin() as session:
            session.execute(update(Token).where(Token.id == row.id).values(last_used_at=now))
    return Owner(row.id, row.name)
