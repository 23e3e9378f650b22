"""The Python peer for the auth benchmarks: fastapi-users 15.0.5, SQLAlchemy + JWT.

Written from the documented fastapi-users SQLAlchemy example (its db, schemas, users and app
modules in one file): ``SQLAlchemyUserDatabase``, ``BearerTransport``, ``JWTStrategy`` (HS256,
3600 s), the default ``PasswordHelper`` (argon2id m=64 MiB, t=3, p=4), tables created in the
lifespan. Differences: the database URL comes from ``FU_DATABASE_URL`` and the secret from
``FU_JWT_SECRET`` (32+ bytes) instead of constants, and the example's print-only
``on_after_*`` hooks are left out. Runs only in bench/.venv-fastapi-users (fastapi-users needs
sqlalchemy<2.1; see setup.sh):

    export FU_DATABASE_URL=sqlite+aiosqlite:///./fu.db FU_JWT_SECRET=$(openssl rand -hex 32)
    bench/.venv-fastapi-users/bin/uvicorn app:app --app-dir bench/fastapi_users
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

DATABASE_URL = os.environ.get("FU_DATABASE_URL", "sqlite+aiosqlite:///./fastapi_users.db")
SECRET = os.environ.get("FU_JWT_SECRET", "")
if len(SECRET.encode()) < 32:
    raise RuntimeError("set FU_JWT_SECRET to a secret of at least 32 bytes")


# --- db.py ---------------------------------------------------------------------------------
class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


engine = create_async_engine(DATABASE_URL)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def create_db_and_tables() -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_async_session)],
) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
    yield SQLAlchemyUserDatabase(session, User)


# --- schemas.py ----------------------------------------------------------------------------
class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


# --- users.py ------------------------------------------------------------------------------
class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: Annotated[SQLAlchemyUserDatabase[User, uuid.UUID], Depends(get_user_db)],
) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db)


bearer_transport = BearerTransport(tokenUrl="auth/jwt/login")


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=3600)


auth_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)


# --- app.py --------------------------------------------------------------------------------
@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Not needed with a migration system like Alembic.
    await create_db_and_tables()
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt", tags=["auth"])
app.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"]
)
app.include_router(fastapi_users.get_reset_password_router(), prefix="/auth", tags=["auth"])
app.include_router(fastapi_users.get_verify_router(UserRead), prefix="/auth", tags=["auth"])
app.include_router(
    fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users", tags=["users"]
)


@app.get("/authenticated-route")
async def authenticated_route(
    user: Annotated[User, Depends(current_active_user)],
) -> dict[str, str]:
    return {"message": f"Hello {user.email}!"}
