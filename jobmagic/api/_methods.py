"""One table of API methods for both clients, so the two cannot differ in what they offer.

A method of the table is written once, as a function of the client that returns the call's
flow (:mod:`jobmagic.api._flows`). :func:`blocking` gives :class:`~jobmagic.api.JobsClient`
a plain method for each, driving the flow with blocking calls; :func:`awaiting` gives
:class:`~jobmagic.api.AsyncJobsClient` a coroutine function driving it with awaits. Both
carry the table's signature and docstring; ``tests/api/test_client_signatures.py`` checks
that they do. For type checkers, :class:`ApiMethod` says what each client's attribute is.

>>> from jobmagic.api.endpoints import ApiRequest
>>> class Table:
...     @api_method
...     def echo(self, text: str, *, times: int = 1) -> Flow[str]:
...         '''The text, ``times`` times.'''
...         body = yield ApiRequest("GET", "/echo", query=[("text", text)])
...         return body * times
>>> @blocking
... class Echo(Table, BlockingDriver):
...     def _drive(self, flow):
...         request = next(flow)
...         try:
...             flow.send(dict(request.query)["text"])
...         except StopIteration as done:
...             return done.value
>>> Echo().echo("ab", times=2)
'abab'
>>> print(inspect.signature(Echo.echo))
(self, text: 'str', *, times: 'int' = 1) -> 'str'
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from jobmagic.api._flows import Flow

__all__ = [
    "ApiMethod",
    "AwaitingDriver",
    "BlockingDriver",
    "api_method",
    "awaiting",
    "blocking",
]

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound=type)


class BlockingDriver:
    """A client that runs a flow to its end with blocking calls (:class:`JobsClient`)."""

    def _drive(self, flow: Flow[T]) -> T:
        raise NotImplementedError


class AwaitingDriver:
    """A client that runs a flow to its end with awaits (:class:`AsyncJobsClient`)."""

    async def _drive(self, flow: Flow[T]) -> T:
        raise NotImplementedError


class ApiMethod(Generic[P, T]):
    """A table entry: the function giving a call's flow, with the call's signature."""

    def __init__(self, flow: Callable[Concatenate[Any, P], Flow[T]]) -> None:
        self.flow = flow
        self.__doc__ = flow.__doc__
        self.__name__ = flow.__name__

    @overload
    def __get__(self, client: None, owner: type | None = None) -> ApiMethod[P, T]: ...
    @overload
    def __get__(self, client: BlockingDriver, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, client: AwaitingDriver, owner: type | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, client: object, owner: type | None = None) -> Any:
        if client is None:
            return self
        # The decorators replace every entry with a real method: this is a class without one.
        raise TypeError(
            f"{type(client).__name__}.{self.__name__} is a table entry: decorate the class "
            "with jobmagic.api._methods.blocking or awaiting."
        )

    def signature(self) -> inspect.Signature:
        """The method's signature: the flow's, returning what the flow returns."""
        signature = inspect.signature(self.flow)
        returned = signature.return_annotation
        if isinstance(returned, str) and returned.startswith("Flow[") and returned.endswith("]"):
            returned = returned[len("Flow[") : -1]
        return signature.replace(return_annotation=returned)


def api_method(flow: Callable[Concatenate[Any, P], Flow[T]]) -> ApiMethod[P, T]:
    """Make ``flow`` (a function of the client giving a call's flow) a table entry."""
    return ApiMethod(flow)


def blocking(cls: C) -> C:
    """Give ``cls`` (a :class:`BlockingDriver`) a blocking method for every table entry."""
    for name, entry in _entries(cls):
        setattr(cls, name, _dressed(_blocking(entry.flow), entry, cls, name))
    return cls


def awaiting(cls: C) -> C:
    """Give ``cls`` (an :class:`AwaitingDriver`) a coroutine function for every table entry."""
    for name, entry in _entries(cls):
        setattr(cls, name, _dressed(_awaiting(entry.flow), entry, cls, name))
    return cls


def _blocking(flow: Callable[..., Flow[Any]]) -> Callable[..., Any]:
    def method(self: BlockingDriver, /, *args: Any, **kwargs: Any) -> Any:
        return self._drive(flow(self, *args, **kwargs))

    return method


def _awaiting(flow: Callable[..., Flow[Any]]) -> Callable[..., Any]:
    async def method(self: AwaitingDriver, /, *args: Any, **kwargs: Any) -> Any:
        return await self._drive(flow(self, *args, **kwargs))

    return method


def _entries(cls: type) -> list[tuple[str, ApiMethod[Any, Any]]]:
    """The table entries ``cls`` has not replaced with a method of its own."""
    names = {name for klass in cls.__mro__ for name in vars(klass)}
    found = [(name, inspect.getattr_static(cls, name)) for name in sorted(names)]
    return [(name, value) for name, value in found if isinstance(value, ApiMethod)]


def _dressed(
    method: Callable[..., Any], entry: ApiMethod[Any, Any], cls: type, name: str
) -> Callable[..., Any]:
    # The flow's name, docstring and annotations (resolved in its module, through
    # __wrapped__), and a signature that help(), IPython's ``?`` and completion show.
    functools.update_wrapper(method, entry.flow)
    method.__qualname__ = f"{cls.__qualname__}.{name}"
    method.__module__ = cls.__module__
    signature = entry.signature()
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__annotations__ = {**entry.flow.__annotations__, "return": signature.return_annotation}
    return method
