"""Bearer tokens: created by the CLI, shown once, stored as sha256; every request resolves to its owner.

Tokens may expire; their last use is recorded (to the minute) and listed with the rest (``list_tokens``, never a
secret). A name is given once: a token is a tenant, and its name is its Hub namespace. Revoking a token cancels its
queued jobs and stops its running ones: what a revoked tenant started does not go on using the machine.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from server.db import Token, utcnow
from server.jobstore import JobStore

LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token and minute

TOKEN_PREFIX = "tshub_"
MAX_NAME_LENGTH = 200  # the tokens.name column


class AuthError(PermissionError):
    pass


class TokenNameError(ValueError):
    """A name ``create_token`` refuses; the message says why and what to do."""


@dataclass(frozen=True)
class Owner:
    id: str
    name: str


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token (``tshub token list``): neither its secret nor the secret's hash."""

    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at is not None and self.expires_at <= utcnow() else "active"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(Session: sessionmaker, name: str, expires_at: datetime | None = None) -> tuple[Owner, str]:
    """A new random token for ``name`` (stripped; TokenNameError when empty, unprintable, too long or already
    some token's), valid until ``expires_at`` (None: until revoked); returns its owner and the clear token (not
    recoverable later)."""
    name = name.strip()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with Session.begin() as session:
            check_token_name(name, session.scalars(select(Token)).all())
            refuse_taken_namespace(session, name)
            row = Token(name=name, name_key=name.casefold(), token_hash=hash_token(token), expires_at=expires_at)
            session.add(row)
    except IntegrityError:  # a token of this name was created since the check: the database's unique name_key
        with Session() as session:
            check_token_name(name, session.scalars(select(Token)).all())
        raise
    return Owner(row.id, row.name), token


def check_token_name(name: str, tokens: Sequence[Token]) -> None:
    """Refuse a name no one could tell apart or use: empty, unprintable (it would break ``tshub token list``), longer
    than the column, or the name of one of ``tokens`` up to case, revoked ones included. A token is a tenant: a second
    'alice' would not see the first one's datasets and jobs, and both would claim the Hub namespace 'alice' (which
    the Hub also keeps from a look-alike differing in case, and keeps for a revoked token)."""
    if not name:
        raise TokenNameError("a token needs a name: who or what it is for, e.g. --name alice (also its Hub namespace)")
    if not name.isprintable():
        raise TokenNameError(f"a token name is one line of printable characters, got {name[:60]!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise TokenNameError(f"a token name has at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    taken = {t.name.casefold(): t for t in tokens}
    same = taken.get(name.casefold())
    if same is None:
        return
    revoked = f", revoked {same.revoked_at:%Y-%m-%d}" if same.revoked_at else ""
    free = next(f"{name}-{n}" for n in range(2, len(taken) + 3) if f"{name}-{n}".casefold() not in taken)
    raise TokenNameError(
        f"a token named {same.name!r} exists already ({same.id}{revoked}): a token is a tenant, with its own datasets, "
        f"jobs and Hub namespace, so a name is given once; choose another, e.g. {free!r} (`tshub token list` shows "
        "every token)"
    )


def refuse_taken_namespace(session: Session, name: str) -> None:
    """Refuse the name of a Hub namespace that another token created (a new token owns none), up to case: the new
    tenant could not publish under its own name, and the other's repos would show as its own."""
    from server.hub_store import HubNamespace  # imported here: the Hub's store imports this module

    taken = next((n for n in session.scalars(select(HubNamespace.name)) if n.casefold() == name.casefold()), None)
    if taken is not None:
        raise TokenNameError(
            f"the Hub namespace {taken!r} belongs to another token, and a token's name is its namespace: choose "
            "another name"
        )


def list_tokens(Session: sessionmaker, active_only: bool = False) -> list[TokenInfo]:
    """Every token, oldest first (only the unrevoked, unexpired ones with ``active_only``): what an operator needs to
    find the id of a token to revoke, and when each was last used."""
    with Session() as session:
        rows = session.scalars(select(Token).order_by(Token.created_at, Token.id)).all()
    tokens = [TokenInfo(r.id, r.name, r.created_at, r.expires_at, r.last_used_at, r.revoked_at) for r in rows]
    return [t for t in tokens if t.state == "active"] if active_only else tokens


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
