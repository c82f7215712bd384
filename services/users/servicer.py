"""The UsersService gRPC servicer: protobuf in, one Users call, protobuf out."""

from __future__ import annotations

import asyncio

import grpc

from protos.ticketing.v1 import users_pb2, users_pb2_grpc
from services.common.errors import BadRequestError
from services.common.identity import require_identity
from services.common.protobuf import timestamp
from services.users.application import Users
from services.users.store import User

ROLE_NAMES = {
    users_pb2.ROLE_SUPERADMIN: "superadmin",
    users_pb2.ROLE_ADMIN: "admin",
    users_pb2.ROLE_AUDITOR: "auditor",
}
ROLES_BY_NAME = {name: role for role, name in ROLE_NAMES.items()}
ACCOUNT_ROLES = tuple(ROLE_NAMES.values())


def require_fields(**fields: str) -> None:
    """Refuse a request that leaves a required field empty or puts a NUL character in one."""
    for name, value in fields.items():
        if not value:
            raise BadRequestError(f"{name} is required")
        if "\x00" in value:
            raise BadRequestError(f"{name} must not contain NUL characters")


def user_message(user: User) -> users_pb2.User:
    """The public view of an account."""
    return users_pb2.User(
        id=user.id,
        email=user.email,
        role=ROLES_BY_NAME[user.role],
        created_at=timestamp(user.created_at),
    )


class UsersServicer(users_pb2_grpc.UsersServiceServicer):
    """Translates UsersService calls to Users; the blocking work runs in worker threads."""

    def __init__(self, users: Users) -> None:
        self.users = users

    async def Login(
        self, request: users_pb2.LoginRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.LoginResponse:
        """A bearer token for a correct email and password."""
        require_fields(email=request.email, password=request.password)
        token = await asyncio.to_thread(self.users.login, request.email, request.password)
        return users_pb2.LoginResponse(
            access_token=token.access_token,
            token_type="bearer",  # noqa: S106 (the OAuth 2 token type, not a secret)
            expires_in=token.expires_in,
        )

    async def CreateInvite(
        self, request: users_pb2.CreateInviteRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.Invite:
        """A superadmin invites an email to register with a role."""
        identity = require_identity(["superadmin"])
        require_fields(email=request.email)
        if request.role not in ROLE_NAMES:
            raise BadRequestError("role must be superadmin, admin or auditor")
        invite = await asyncio.to_thread(
            self.users.create_invite, identity, request.email, ROLE_NAMES[request.role]
        )
        return users_pb2.Invite(
            invite_code=invite.code,
            email=invite.email,
            role=ROLES_BY_NAME[invite.role],
            expires_at=timestamp(invite.expires_at),
        )

    async def Register(
        self, request: users_pb2.RegisterRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        """Create the account an invite code is for."""
        require_fields(
            email=request.email, password=request.password, invite_code=request.invite_code
        )
        user = await asyncio.to_thread(
            self.users.register, request.email, request.password, request.invite_code
        )
        return user_message(user)

    async def GetMe(
        self, request: users_pb2.GetMeRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.User:
        """The caller's own account."""
        identity = require_identity(ACCOUNT_ROLES)
        return user_message(await asyncio.to_thread(self.users.get_user, identity.subject))

    async def ListUsers(
        self, request: users_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.ListUsersResponse:
        """A page of every account, for a superadmin."""
        require_identity(["superadmin"])
        page = await asyncio.to_thread(self.users.list_users, request.page_size, request.page_token)
        return users_pb2.ListUsersResponse(
            users=[user_message(user) for user in page.users],
            next_page_token=page.next_page_token,
        )

    async def GetPublicKeys(
        self, request: users_pb2.GetPublicKeysRequest, context: grpc.aio.ServicerContext
    ) -> users_pb2.PublicKeys:
        """The JSON Web Key Set that verifies the tokens this service issues."""
        if self.users.issuer is None:
            raise RuntimeError("this service was built without a token issuer")
        return users_pb2.PublicKeys(jwks_json=self.users.issuer.jwks_json())
