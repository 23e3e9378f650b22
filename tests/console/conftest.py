"""The live stack every console test shares: started once per test process (session
scope, so pytest-xdist's workers do not start one per module they switch to), with
users made per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.console.stack import Stack, running_stack
from tests.console.support import Browser


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("console-stack")) as running:
        yield running


@pytest.fixture
def browser(stack: Stack) -> Iterator[Browser]:
    client = Browser(stack)
    yield client
    client.close()


@pytest.fixture
def new_browser(stack: Stack) -> Iterator[Callable[..., Browser]]:
    """More browsers (another device of the same user, another user)."""
    made: list[Browser] = []

    def make(**kwargs: str) -> Browser:
        client = Browser(stack, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A username no other test uses (the stack is shared)."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"
