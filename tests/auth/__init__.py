import pytest

# These helper modules assert like the tests that call them; have pytest explain their
# failures as it does in test modules and conftest.py (before any of them is imported).
pytest.register_assert_rewrite(
    "tests.auth.admin_api",
    "tests.auth.deployment",
    "tests.auth.mfa_flow",
    "tests.auth.sso_flow",
    "tests.auth.support",
)
