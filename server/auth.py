"""Bearer tokens: created by the CLI, shown once, stored as sha256; every request resolves to its owner."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from server.db import Token, utcnow

TOKEN_PREFIX = "tshub_"


class AuthError(PermissionError):
    pass


@dataclass(frozen=True)
class Owner:
    id: str
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(Session: sessionmaker, name: str) -> tuple[Owner, str]:
    """A new random token; returns its owner and the clear token (not recoverable later)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with Session.begin() as session:
        row = Token(name=name, token_hash=hash_token(token))
        session.add(row)
    return Owner(row.id, row.name), token


def revoke_token(Session: sessionmaker, token_id: str) -> bool:
    with Session.begin() as session:
        return session.execute(update(Token).where(Token.id == token_id, Token.revoked_at.is_(None))
                               .values(revoked_at=utcnow())).rowcount == 1


def authenticate(Session: sessionmaker, token: str) -> Owner:
    """The owner of a valid, unrevoked token; AuthError otherwise."""
    with Session() as session:
        row = session.scalar(select(Token).where(Token.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid or revoked token; create one with `tshub token create --name NAME`")
    return Owner(row.id, row.name)
