"""The users service over a real gRPC channel, on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import pytest
from argon2 import PasswordHasher
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.ticketing.v1 import users_pb2, users_pb2_grpc
from services.common.database import open_database
from services.common.identity import Identity, identity_metadata
from services.users.passwords import Passwords
from services.users.server import build_users_service
from services.users.store import UserStore
from services.users.tokens import AUDIENCE, ISSUER, TokenVerifier
from tests.integration.grpc_helpers import as_caller, reason_of, service_settings

ROOT_EMAIL, ROOT_PASSWORD = "root@example.com", "correct horse battery staple"
PASSWORD = "a long enough passphrase"
ADMIN = users_pb2.ROLE_ADMIN
Code = grpc.StatusCode


@pytest.fixture(params=["postgres", "sqlite"])
def settings(request, tmp_path):
    """Settings naming a database of the test's own, with a superadmin to create on start."""
    database_url = (
        request.getfixturevalue("fresh_database_url") if request.param == "postgres" else None
    )
    return service_settings(
        tmp_path,
        database_url,
        ticketing_superadmin_email=ROOT_EMAIL,
        ticketing_superadmin_password=ROOT_PASSWORD,
    )


@pytest.fixture
async def users_service(settings):
    # The production cost of argon2id is about half a second per hash here; same algorithm, cheaper.
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    service = await build_users_service(settings, "127.0.0.1:0", passwords=passwords)
    await service.start()
    yield service
    await service.stop(grace=1)


@pytest.fixture
async def channel(users_service):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{users_service.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel):
    return users_pb2_grpc.UsersServiceStub(channel)


@pytest.fixture
def root(settings):
    return as_caller(settings, "root-user", "superadmin", "gateway")


@pytest.fixture
def admin(settings):
    return as_caller(settings, "some-admin", "admin", "gateway")


async def an_invite(stub, root, email, role=ADMIN):
    invite = await stub.CreateInvite(
        users_pb2.CreateInviteRequest(email=email, role=role), metadata=root
    )
    return invite.invite_code


async def a_registered_user(stub, root, email, password=PASSWORD, role=ADMIN):
    code = await an_invite(stub, root, email, role)
    return await stub.Register(
        users_pb2.RegisterRequest(email=email, password=password, invite_code=code)
    )


async def login(stub, email, password):
    return await stub.Login(users_pb2.LoginRequest(email=email, password=password))


async def refusal(call):
    """The error a call fails with (the test fails if the call succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def in_the_users_tables(settings, statement, moment):
    """Run one statement with one time parameter, in the form the database keeps times."""
    database = open_database(settings, "users")
    try:
        with UserStore(database).transaction() as tables:
            tables.cursor.execute(statement, (tables.stored(moment),))
    finally:
        database.close()


async def test_an_invited_admin_registers_logs_in_and_reads_their_own_account(stub, root, settings):
    code = await an_invite(stub, root, "ada@example.com")
    registered = await stub.Register(
        users_pb2.RegisterRequest(email="ada@example.com", password=PASSWORD, invite_code=code)
    )
    token = await login(stub, "ada@example.com", PASSWORD)
    me_as_caller = as_caller(settings, registered.id, "admin", "gateway")
    me = await stub.GetMe(users_pb2.GetMeRequest(), metadata=me_as_caller)

    assert (registered.email, registered.role) == ("ada@example.com", ADMIN)
    assert (token.token_type, token.expires_in) == ("bearer", 3600)
    assert (me.id, me.email, me.role) == (registered.id, "ada@example.com", ADMIN)
    assert abs(me.created_at.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_login_token_verifies_with_the_published_keys_and_names_the_user(stub, root):
    user = await a_registered_user(stub, root, "ada@example.com", role=users_pb2.ROLE_AUDITOR)
    token = (await login(stub, "ada@example.com", PASSWORD)).access_token
    keys = await stub.GetPublicKeys(users_pb2.GetPublicKeysRequest())

    claims = TokenVerifier(keys.jwks_json).verify(token)
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (claims.subject, claims.role, claims.email) == (user.id, "auditor", "ada@example.com")
    (published_key,) = json.loads(keys.jwks_json)["keys"]
    assert (header["alg"], header["kid"]) == ("EdDSA", published_key["kid"])
    assert (payload["iss"], payload["aud"]) == (ISSUER, AUDIENCE)


async def test_the_superadmin_from_the_environment_can_log_in(stub, channel):
    token = await login(stub, ROOT_EMAIL, ROOT_PASSWORD)
    keys = await stub.GetPublicKeys(users_pb2.GetPublicKeysRequest())

    assert TokenVerifier(keys.jwks_json).verify(token.access_token).role == "superadmin"


async def test_emails_are_matched_without_regard_to_case(stub, root):
    await a_registered_user(stub, root, "Ada@Example.com")

    token = await login(stub, "ada@EXAMPLE.com", PASSWORD)
    error = await refusal(a_registered_user(stub, root, "ADA@example.COM"))

    assert token.access_token
    assert error.code() == Code.ALREADY_EXISTS


async def test_an_unknown_invite_code_is_a_bad_invite(stub):
    error = await refusal(
        stub.Register(
            users_pb2.RegisterRequest(
                email="ada@example.com", password=PASSWORD, invite_code="made-up"
            )
        )
    )

    assert (error.code(), reason_of(error)) == (Code.INVALID_ARGUMENT, "bad_invite")


async def test_a_used_invite_cannot_register_a_second_account(stub, root):
    code = await an_invite(stub, root, "ada@example.com")
    request = users_pb2.RegisterRequest(
        email="ada@example.com", password=PASSWORD, invite_code=code
    )
    await stub.Register(request)

    error = await refusal(stub.Register(request))

    assert (error.code(), reason_of(error)) == (Code.INVALID_ARGUMENT, "bad_invite")


async def test_an_expired_invite_is_a_bad_invite(stub, root, settings):
    code = await an_invite(stub, root, "ada@example.com")
    a_minute_ago = datetime.now(UTC) - timedelta(minutes=1)
    in_the_users_tables(settings, "UPDATE users_invites SET expires_at = %s", a_minute_ago)

    error = await refusal(
        stub.Register(
            users_pb2.RegisterRequest(email="ada@example.com", password=PASSWORD, invite_code=code)
        )
    )

    assert (error.code(), reason_of(error)) == (Code.INVALID_ARGUMENT, "bad_invite")


async def test_an_invite_for_another_email_is_a_bad_invite(stub, root):
    code = await an_invite(stub, root, "ada@example.com")

    error = await refusal(
        stub.Register(
            users_pb2.RegisterRequest(email="eve@example.com", password=PASSWORD, invite_code=code)
        )
    )

    assert (error.code(), reason_of(error)) == (Code.INVALID_ARGUMENT, "bad_invite")


async def test_registering_a_taken_email_is_already_exists_and_leaves_the_invite_unused(stub, root):
    first, second = [await an_invite(stub, root, "ada@example.com") for _ in range(2)]
    await stub.Register(
        users_pb2.RegisterRequest(email="ada@example.com", password=PASSWORD, invite_code=first)
    )

    error = await refusal(
        stub.Register(
            users_pb2.RegisterRequest(
                email="ada@example.com", password=PASSWORD, invite_code=second
            )
        )
    )

    assert (error.code(), reason_of(error)) == (Code.ALREADY_EXISTS, "already_exists")


async def test_registrations_racing_for_one_invite_create_exactly_one_account(stub, root):
    code = await an_invite(stub, root, "ada@example.com")
    request = users_pb2.RegisterRequest(
        email="ada@example.com", password=PASSWORD, invite_code=code
    )

    outcomes = await asyncio.gather(
        *[stub.Register(request) for _ in range(5)], return_exceptions=True
    )

    accounts = [outcome for outcome in outcomes if isinstance(outcome, users_pb2.User)]
    refusals = {outcome.code() for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)}
    assert len(accounts) == 1
    assert refusals <= {Code.INVALID_ARGUMENT, Code.ALREADY_EXISTS}
    listing = await stub.ListUsers(users_pb2.ListUsersRequest(), metadata=root)
    assert [user.email for user in listing.users] == [ROOT_EMAIL, "ada@example.com"]


async def test_inviting_an_email_that_has_an_account_is_already_exists(stub, root):
    error = await refusal(an_invite(stub, root, ROOT_EMAIL))

    assert error.code() == Code.ALREADY_EXISTS


async def test_a_password_shorter_than_twelve_characters_is_refused(stub, root):
    code = await an_invite(stub, root, "ada@example.com")

    error = await refusal(
        stub.Register(
            users_pb2.RegisterRequest(
                email="ada@example.com", password="elevenchars", invite_code=code
            )
        )
    )

    assert (error.code(), reason_of(error)) == (Code.INVALID_ARGUMENT, "weak_password")
    assert "12" in error.details()


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer(stub):
    unknown = await refusal(login(stub, "nobody@example.com", ROOT_PASSWORD))
    wrong = await refusal(login(stub, ROOT_EMAIL, "not the password at all"))

    assert (unknown.code(), unknown.details(), reason_of(unknown)) == (
        wrong.code(),
        wrong.details(),
        reason_of(wrong),
    )
    assert (wrong.code(), wrong.details()) == (Code.UNAUTHENTICATED, "invalid email or password")


async def test_five_failed_logins_lock_the_account_even_for_the_right_password(stub):
    failures = [await refusal(login(stub, ROOT_EMAIL, f"wrong guess {n}")) for n in range(5)]

    locked = await refusal(login(stub, ROOT_EMAIL, ROOT_PASSWORD))

    assert {error.code() for error in failures} == {Code.UNAUTHENTICATED}
    assert (locked.code(), reason_of(locked)) == (Code.RESOURCE_EXHAUSTED, "locked")
    assert "try again after" in locked.details()


async def test_a_locked_account_accepts_the_right_password_once_the_lock_ends(stub, settings):
    for n in range(5):
        await refusal(login(stub, ROOT_EMAIL, f"wrong guess {n}"))
    a_second_ago = datetime.now(UTC) - timedelta(seconds=1)
    in_the_users_tables(settings, "UPDATE users_accounts SET locked_until = %s", a_second_ago)

    token = await login(stub, ROOT_EMAIL, ROOT_PASSWORD)

    assert token.access_token


async def test_a_successful_login_restarts_the_count_of_failures(stub):
    for n in range(4):
        await refusal(login(stub, ROOT_EMAIL, f"wrong guess {n}"))
    await login(stub, ROOT_EMAIL, ROOT_PASSWORD)
    for n in range(4):
        await refusal(login(stub, ROOT_EMAIL, f"wrong guess {n}"))

    token = await login(stub, ROOT_EMAIL, ROOT_PASSWORD)

    assert token.access_token


async def test_an_admin_may_neither_invite_nor_list_users(stub, admin):
    invite = await refusal(
        stub.CreateInvite(
            users_pb2.CreateInviteRequest(email="eve@example.com", role=ADMIN), metadata=admin
        )
    )
    listing = await refusal(stub.ListUsers(users_pb2.ListUsersRequest(), metadata=admin))

    assert invite.code() == listing.code() == Code.PERMISSION_DENIED


async def test_calls_that_need_an_identity_are_unauthenticated_without_one(stub):
    calls = [
        stub.CreateInvite(users_pb2.CreateInviteRequest(email="eve@example.com", role=ADMIN)),
        stub.ListUsers(users_pb2.ListUsersRequest()),
        stub.GetMe(users_pb2.GetMeRequest()),
    ]

    errors = [await refusal(call) for call in calls]

    assert [error.code() for error in errors] == [Code.UNAUTHENTICATED] * 3


async def test_an_identity_signed_with_another_secret_is_unauthenticated(stub):
    forged = identity_metadata(
        Identity("root-user", "superadmin", "gateway"), secrets.token_bytes(40)
    )

    error = await refusal(stub.ListUsers(users_pb2.ListUsersRequest(), metadata=forged))

    assert error.code() == Code.UNAUTHENTICATED


async def test_list_users_pages_through_every_account_in_order_of_creation(stub, root):
    ada = await a_registered_user(stub, root, "ada@example.com")
    bob = await a_registered_user(stub, root, "bob@example.com")

    first = await stub.ListUsers(users_pb2.ListUsersRequest(page_size=2), metadata=root)
    second = await stub.ListUsers(
        users_pb2.ListUsersRequest(page_size=2, page_token=first.next_page_token), metadata=root
    )

    assert [user.email for user in first.users] == [ROOT_EMAIL, "ada@example.com"]
    assert [user.id for user in second.users] == [bob.id]
    assert first.users[1].id == ada.id
    assert first.next_page_token
    assert second.next_page_token == ""


async def test_a_page_token_the_service_never_issued_is_invalid_argument(stub, root):
    error = await refusal(
        stub.ListUsers(users_pb2.ListUsersRequest(page_token="not-a-token!"), metadata=root)
    )

    assert error.code() == Code.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "request_message",
    [
        users_pb2.LoginRequest(email="", password=PASSWORD),
        users_pb2.RegisterRequest(email="ada@example.com", password=PASSWORD, invite_code=""),
        users_pb2.CreateInviteRequest(email="ada@example.com", role=users_pb2.ROLE_UNSPECIFIED),
        users_pb2.CreateInviteRequest(email="not an email", role=ADMIN),
    ],
    ids=[
        "login-without-email",
        "register-without-invite",
        "invite-without-role",
        "invite-bad-email",
    ],
)
async def test_a_request_with_a_missing_or_malformed_field_is_invalid_argument(
    stub, root, request_message
):
    method = {
        users_pb2.LoginRequest: stub.Login,
        users_pb2.RegisterRequest: stub.Register,
        users_pb2.CreateInviteRequest: stub.CreateInvite,
    }[type(request_message)]

    error = await refusal(method(request_message, metadata=root))

    assert error.code() == Code.INVALID_ARGUMENT


async def test_get_me_for_an_account_that_does_not_exist_is_not_found(stub, settings):
    ghost = as_caller(settings, "no-such-user", "admin", "gateway")

    error = await refusal(stub.GetMe(users_pb2.GetMeRequest(), metadata=ghost))

    assert error.code() == Code.NOT_FOUND


@pytest.mark.parametrize("service", ["", "ticketing.v1.UsersService"])
async def test_the_health_service_reports_serving(channel, service):
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service)
    )

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def run_cli(settings, *arguments):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKETING_", "DATABASE_URL"))}
    env["TICKETING_DATA_DIR"] = str(settings.ticketing_data_dir)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "create-superadmin", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_create_superadmin_on_the_command_line_makes_an_account_that_can_log_in(
    stub, settings
):
    done = await asyncio.to_thread(
        run_cli, settings, "--email", "boss@example.com", "--password", PASSWORD
    )
    token = await login(stub, "boss@example.com", PASSWORD)
    keys = await stub.GetPublicKeys(users_pb2.GetPublicKeysRequest())

    assert done.returncode == 0, done.stderr
    claims = TokenVerifier(keys.jwks_json).verify(token.access_token)
    assert (claims.subject, claims.role) == (done.stdout.strip(), "superadmin")


async def test_create_superadmin_on_the_command_line_refuses_a_taken_email_or_weak_password(
    users_service, settings
):
    taken = await asyncio.to_thread(
        run_cli, settings, "--email", ROOT_EMAIL, "--password", PASSWORD
    )
    weak = await asyncio.to_thread(
        run_cli, settings, "--email", "boss@example.com", "--password", "short"
    )

    assert (taken.returncode, taken.stdout) == (1, "")
    assert "already exists" in taken.stderr
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr
