#!/usr/bin/env bash
# Create bench/.venv-fastapi-users with fastapi-users 15.0.5 (the auth benchmark's Python peer).
#
# fastapi-users-db-sqlalchemy needs sqlalchemy<2.1 while the project uses SQLAlchemy 2.1, so the
# peer gets its own venv. Without the explicit pins pip resolves to fastapi-users 11.0.0.
# Usage: bash bench/fastapi_users/setup.sh   (PYTHON=python3.11 to choose the interpreter)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-fastapi-users"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet \
    'fastapi-users[sqlalchemy]==15.0.5' \
    'sqlalchemy[asyncio]>=2.0,<2.1' \
    aiosqlite asyncpg 'uvicorn[standard]'
"$venv/bin/python" - <<'PY'
from importlib.metadata import version

for name in ("fastapi-users", "fastapi-users-db-sqlalchemy", "sqlalchemy", "fastapi", "uvicorn",
             "pwdlib", "argon2-cffi", "pyjwt", "aiosqlite", "asyncpg", "uvloop", "httptools"):
    print(f"{name}=={version(name)}")
PY
echo "ready: $venv"
