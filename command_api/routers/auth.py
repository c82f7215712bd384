"""Admin accounts: login, invites, registration, the caller's own account."""

from __future__ import annotations

from typing import Annotated

import grpc
from fastapi import APIRouter, Query

from command_api import translate
from command_api.auth import CurrentUser, Superadmin
from command_api.clients import CUSTOMER, ServiceClients
from command_api.models import (
    InvitePublic,
    InviteRequest,
    LoginRequest,
    RegisterRequest,
    TokenPublic,
    UserPublic,
    UsersPublic,
)
from protos.ticketing.v1 import users_pb2
from services.common.http_problems import ProblemError

router = APIRouter(tags=["auth"])


@router.post("/auth/login", response_model=TokenPublic)
async def login(body: LoginRequest, services: ServiceClients) -> TokenPublic:
    """A bearer token for an admin's email and password."""
    try:
        answer = await services.users.Login(
            users_pb2.LoginRequest(email=body.email, password=body.password),
            **services.as_caller(CUSTOMER),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ProblemError(401, "invalid email or password") from None
        raise
    return TokenPublic(access_token=answer.access_token, expires_in=answer.expires_in)


@router.post("/auth/register", status_code=201, response_model=UserPublic)
async def register(body: RegisterRequest, services: ServiceClients) -> UserPublic:
    """Sign up with an invite code a superadmin issued."""
    try:
        user = await services.users.Register(
            users_pb2.RegisterRequest(
                email=body.email, password=body.password, invite_code=body.invite_code
            ),
            **services.as_caller(CUSTOMER),
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ProblemError(400, error.details() or "bad invite", kind="bad_invite") from None
        raise
    return translate.user(user)


@router.post("/auth/invites", status_code=201, response_model=InvitePublic)
async def invite(body: InviteRequest, caller: Superadmin, services: ServiceClients) -> InvitePublic:
    """Invite an email to register with a role (superadmin)."""
    answer = await services.users.CreateInvite(
        users_pb2.CreateInviteRequest(email=body.email, role=translate.ROLES[body.role]),
        **services.as_caller(caller),
    )
    return InvitePublic(
        invite_code=answer.invite_code,
        email=answer.email,
        role=translate.ROLE_NAMES[answer.role],
        expires_at=translate.when(answer.expires_at),
    )


@router.get("/auth/me", response_model=UserPublic)
async def me(caller: CurrentUser, services: ServiceClients) -> UserPublic:
    """The caller's own account."""
    return translate.user(
        await services.users.GetMe(users_pb2.GetMeRequest(), **services.as_caller(caller))
    )


@router.get("/admin/users", response_model=UsersPublic, tags=["admin"])
async def list_users(
    caller: Superadmin,
    services: ServiceClients,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str, Query(max_length=500)] = "",
) -> UsersPublic:
    """Every account (superadmin)."""
    page = await services.users.ListUsers(
        users_pb2.ListUsersRequest(page_size=limit, page_token=cursor),
        **services.as_caller(caller),
    )
    return UsersPublic(
        items=[translate.listed_user(user) for user in page.users],
        next_cursor=page.next_page_token or None,
    )
