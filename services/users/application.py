"""Users: admin accounts, invites, registration and login, on the users tables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import AlreadyExistsError, NotFoundError
from services.common.errors import BadRequestError, PermissionDeniedError
from services.common.identity import Identity
from services.common.settings import Settings
from services.users.errors import AccountLockedError, BadInviteError, InvalidCredentialsError
from services.users.passwords import Passwords, check_password_policy
from services.users.store import Invite, User, UserStore
from services.users.tokens import USER_ROLES, IssuedToken, TokenIssuer

log = logging.getLogger(__name__)

INVITE_LIFETIME = timedelta(days=7)
MAX_FAILED_LOGINS = 5
LOCK_DURATION = timedelta(minutes=15)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_EMAIL_LENGTH = 254
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+")


def utc_now() -> datetime:
    """The current time, with its offset."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedInvite:
    """A new invite with its code: the only moment the code is known in clear."""

    code: str
    email: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class UsersPage:
    """One page of accounts and the token of the next page ("" on the last)."""

    users: list[User]
    next_page_token: str


class Users:
    """Admin accounts: the first superadmin, invites, registration, login and listing."""

    def __init__(
        self,
        store: UserStore,
        passwords: Passwords,
        issuer: TokenIssuer | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.issuer = issuer  # None where nobody logs in, such as the command line
        self.clock = clock

    # -- accounts -------------------------------------------------------------------------------

    def create_superadmin(self, email: str, password: str) -> User:
        """Create a superadmin, or AlreadyExistsError when the email is taken."""
        email = check_email(email)
        check_password_policy(password)
        with self.store.transaction() as tables:
            if tables.user_by_email(email) is not None:
                raise AlreadyExistsError("a user with this email already exists")
        user = self.new_user(email, self.passwords.hash(password), "superadmin")
        with self.store.transaction() as tables:
            tables.insert_user(user)
        return user

    def ensure_superadmin_from_env(self, settings: Settings) -> User | None:
        """Create the superadmin named by TICKETING_SUPERADMIN_EMAIL/PASSWORD unless it exists."""
        email = settings.ticketing_superadmin_email
        password = settings.ticketing_superadmin_password
        if not email or not password:
            if email or password:
                log.warning("TICKETING_SUPERADMIN_EMAIL and _PASSWORD work only together")
            return None
        with self.store.transaction() as tables:
            if tables.user_by_email(email.strip()) is not None:
                return None
        try:
            user = self.create_superadmin(email, password)
        except AlreadyExistsError:  # another replica starting at the same time won
            return None
        log.info("created the superadmin %s from the environment", user.email)
        return user

    def get_user(self, user_id: str) -> User:
        """The account with this id, or NotFoundError."""
        with self.store.transaction() as tables:
            user = tables.user_by_id(user_id)
        if user is None:
            raise NotFoundError("no such user")
        return user

    def list_users(self, page_size: int, page_token: str) -> UsersPage:
        """Accounts in order of creation, page_size (1-100, 0 for 20) at a time."""
        size = page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise BadRequestError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        after = position_of(page_token) if page_token else None
        with self.store.transaction() as tables:
            users = tables.users_after(after, size + 1)
        if len(users) <= size:
            return UsersPage(users, "")
        return UsersPage(users[:size], page_token_of(users[size - 1]))

    # -- invites and registration ---------------------------------------------------------------

    def create_invite(self, by: Identity, email: str, role: str) -> IssuedInvite:
        """A superadmin invites email to register with role; the invite lasts seven days."""
        if not by.is_superadmin:
            raise PermissionDeniedError("only a superadmin may invite")
        email = check_email(email)
        check_role(role)
        code = secrets.token_urlsafe(24)
        now = self.clock()
        invite = Invite(code_hash_of(code), email, role, by.subject, now, now + INVITE_LIFETIME)
        with self.store.transaction() as tables:
            if tables.user_by_email(email) is not None:
                raise AlreadyExistsError("a user with this email already exists")
            tables.insert_invite(invite)
        return IssuedInvite(code, email, role, invite.expires_at)

    def register(self, email: str, password: str, invite_code: str) -> User:
        """Create the account an invite is for, using the invite up in the same transaction."""
        email = check_email(email)
        check_password_policy(password)
        code_hash = code_hash_of(invite_code)
        # A cheap look first, so that a bad invite costs no password hashing.
        with self.store.transaction() as tables:
            invite = tables.invite_by_code_hash(code_hash)
        if invite is None or not invite_admits(invite, email, self.clock()):
            raise BadInviteError
        password_hash = self.passwords.hash(password)
        with self.store.transaction() as tables:
            invite = tables.claim_invite(code_hash, self.clock())
            if invite is None or not same_email(invite.email, email):
                raise BadInviteError
            user = self.new_user(email, password_hash, invite.role)
            tables.insert_user(user)
        return user

    # -- login ----------------------------------------------------------------------------------

    def login(self, email: str, password: str) -> IssuedToken:
        """A token for the account, or one same error for an unknown email or wrong password."""
        if self.issuer is None:
            raise RuntimeError("these Users were built without a token issuer")
        with self.store.transaction() as tables:
            user = tables.user_by_email(email.strip())
        if user is None:
            self.passwords.verify_dummy(password)
            raise InvalidCredentialsError
        self.check_not_locked(user)
        if not self.passwords.verify(user.password_hash, password):
            self.count_failed_login(user)
            raise InvalidCredentialsError
        self.record_successful_login(user, password)
        return self.issuer.issue(user.id, user.role, user.email)

    def check_not_locked(self, user: User) -> None:
        """Refuse any login, even with the right password, while the account is locked."""
        if user.locked_until is not None and user.is_locked(self.clock()):
            raise AccountLockedError(user.locked_until)

    def count_failed_login(self, user: User) -> None:
        """Count a wrong password; the fifth in a row locks the account for 15 minutes."""
        with self.store.transaction() as tables:
            locked_until = tables.record_failed_login(
                user.id, MAX_FAILED_LOGINS, self.clock() + LOCK_DURATION
            )
        if locked_until is not None and locked_until > self.clock():
            log.warning("locked the account %s until %s", user.id, locked_until.isoformat())

    def record_successful_login(self, user: User, password: str) -> None:
        """Reset the failure count, and upgrade a hash made with outdated parameters."""
        new_hash = (
            self.passwords.hash(password)
            if self.passwords.needs_rehash(user.password_hash)
            else None
        )
        with self.store.transaction() as tables:
            if not tables.record_successful_login(user.id, self.clock()):
                # Concurrent failures locked the account while this password was checked.
                locked = tables.user_by_id(user.id)
                until = locked.locked_until if locked else None
                raise AccountLockedError(until or self.clock() + LOCK_DURATION)
            if new_hash is not None:
                tables.update_password_hash(user.id, new_hash)

    def new_user(self, email: str, password_hash: str, role: str) -> User:
        """An account row not yet stored."""
        return User(str(uuid.uuid4()), email, password_hash, role, self.clock())


def check_email(email: str) -> str:
    """The email without surrounding spaces, or BadRequestError if it does not look like one."""
    email = email.strip()
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        raise BadRequestError("the email must look like name@domain")
    return email


def check_role(role: str) -> None:
    """Refuse a role no account can have."""
    if role not in USER_ROLES:
        raise BadRequestError(f"the role must be one of {', '.join(sorted(USER_ROLES))}")


def same_email(first: str, second: str) -> bool:
    """Whether two emails are the same, ignoring case."""
    return first.lower() == second.lower()


def code_hash_of(code: str) -> str:
    """The stored form of an invite code: its SHA-256 (the code is random, so no salt)."""
    return hashlib.sha256(code.encode()).hexdigest()


def invite_admits(invite: Invite, email: str, now: datetime) -> bool:
    """Whether the invite is unused, unexpired and for this email."""
    return invite.used_at is None and invite.expires_at > now and same_email(invite.email, email)


def page_token_of(user: User) -> str:
    """An opaque token for the position just after user."""
    position = json.dumps([user.created_at.isoformat(), user.id]).encode()
    return base64.urlsafe_b64encode(position).decode()


def position_of(page_token: str) -> tuple[datetime, str]:
    """The (created_at, id) position a page token stands for, or BadRequestError."""
    try:
        created_at, user_id = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        moment = datetime.fromisoformat(created_at)
    except (ValueError, TypeError, binascii.Error) as error:
        raise BadRequestError("page_token is not one this service issued") from error
    if moment.tzinfo is None or not isinstance(user_id, str):
        raise BadRequestError("page_token is not one this service issued")
    return moment, user_id
