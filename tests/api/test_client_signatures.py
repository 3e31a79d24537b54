"""JobsClient and AsyncJobsClient offer the same methods with the same signatures.

Both get their API methods from one table (``jobmagic.api._methods``); these checks fail as
soon as a method is written by hand on one client only, or its twin takes other arguments,
defaults or annotations, or returns another type: the drift that gave the sync client a
``find_app(refresh=)`` the async one lacked.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

from jobmagic.api import AsyncJobsClient, JobsClient
from jobmagic.api._jobs import JobsMethods
from jobmagic.api._methods import ApiMethod
from jobmagic.api._mlclient import MLRunsMethods
from jobmagic.sandbox import SandboxServer

#: Where the two clients differ on purpose: how they are closed and used in ``with``.
TWINS = {"close": "aclose"}
PROTOCOLS = {
    JobsClient: {"__enter__", "__exit__"},
    AsyncJobsClient: {"__aenter__", "__aexit__"},
}


def public_methods(cls: type) -> set[str]:
    return {
        name
        for name in dir(cls)
        if not name.startswith("_") and callable(inspect.getattr_static(cls, name))
    }


def table_entries(table: type) -> set[str]:
    return {name for name, value in vars(table).items() if isinstance(value, ApiMethod)}


def test_both_clients_offer_the_same_public_methods() -> None:
    sync_names = public_methods(JobsClient)
    async_names = {
        next((s for s, a in TWINS.items() if a == name), name)
        for name in public_methods(AsyncJobsClient)
    }
    assert sync_names == async_names
    # Every Jobs and ML-runs method of the table, and nothing else but closing.
    assert sync_names == table_entries(JobsMethods) | table_entries(MLRunsMethods) | set(TWINS)
    for cls, protocol in PROTOCOLS.items():
        assert protocol <= set(dir(cls))


@pytest.mark.parametrize("name", sorted(table_entries(JobsMethods) | table_entries(MLRunsMethods)))
def test_each_method_has_one_signature_blocking_in_one_awaited_in_the_other(name: str) -> None:
    sync_method = getattr(JobsClient, name)
    async_method = getattr(AsyncJobsClient, name)
    assert inspect.signature(sync_method) == inspect.signature(async_method)
    assert not inspect.iscoroutinefunction(sync_method)
    assert inspect.iscoroutinefunction(async_method)
    assert inspect.getdoc(sync_method) and inspect.getdoc(sync_method) == inspect.getdoc(
        async_method
    )
    returned = inspect.signature(sync_method).return_annotation
    assert returned is not inspect.Signature.empty and not str(returned).startswith("Flow[")


def test_the_constructors_take_the_same_arguments() -> None:
    assert inspect.signature(JobsClient) == inspect.signature(AsyncJobsClient)
    parameters = inspect.signature(JobsClient).parameters
    # What jobmagic.domain.engine gives each lane's client, and the seam tests use.
    for used in ("credentials", "timeout", "verify", "max_connections", "transport"):
        assert used in parameters


def test_closing_differs_only_in_being_awaited() -> None:
    assert inspect.signature(JobsClient.close) == inspect.signature(AsyncJobsClient.aclose)
    assert inspect.iscoroutinefunction(AsyncJobsClient.aclose)


def test_find_app_refresh_asks_the_server_again_in_both(
    sandbox: SandboxServer, isolated_home: Path
) -> None:
    fqn = "sandbox:demo:hello"
    with JobsClient(sandbox.host, sandbox.token) as client:
        sandbox.reset_stats()
        first = client.find_app(fqn)
        assert client.find_app(fqn) is first  # cached
        assert client.find_app(fqn, refresh=True) == first
        sync_lookups = sandbox.stats()["apps"]

    async def twice() -> int:
        async with AsyncJobsClient(sandbox.host, sandbox.token) as client:
            sandbox.reset_stats()
            first = await client.find_app(fqn)
            assert await client.find_app(fqn) is first
            assert await client.find_app(fqn, refresh=True) == first
            return int(sandbox.stats()["apps"])

    assert sync_lookups == asyncio.run(twice()) == 2
