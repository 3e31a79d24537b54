"""The one-line form's ``name=value`` tokens (``%trigger_job app lr=0.1 epochs=3``)."""

from __future__ import annotations

from collections.abc import Iterable

from jobmagic.errors import ParamsError
from jobmagic.params._body import Body
from jobmagic.params._grid import grid_axes
from jobmagic.params._limits import check_size, utf8_size
from jobmagic.params._names import is_valid_name, name_message
from jobmagic.params._source import SURROGATE_RE, short

__all__ = ["parse_kv_args", "parse_kv_grid"]


def parse_kv_args(tokens: Iterable[str]) -> dict[str, str]:
    """Read ``name=value`` tokens (``%trigger_job app lr=0.1 epochs=3``) as written.

    The value is everything after the first ``=``, so ``k=a=b`` sends ``"a=b"``.

    >>> parse_kv_args(["lr=0.10", "expr=a=b"])
    {'lr': '0.10', 'expr': 'a=b'}
    """
    tokens = list(tokens)
    check_size(
        sum(utf8_size(token) for token in tokens if isinstance(token, str)), "the params' text"
    )
    params: dict[str, str] = {}
    for token in tokens:
        name, sep, value = token.partition("=")
        if not sep:
            raise ParamsError(f"`{short(token)}` is not a `name=value` pair; write e.g. `lr=0.01`")
        if not name:
            raise ParamsError(
                f"`{short(token)}` has no param name before `=`; write e.g. `lr=0.01`"
            )
        if not is_valid_name(name):
            raise ParamsError(name_message(name))
        if name in params:
            raise ParamsError(f"`{name}` is given twice; keep one of them")
        if not value:
            raise ParamsError(
                f"`{name}=` has no value; write `{name}=VALUE`, or use the cell form "
                f'`{name}: ""` to send an empty string'
            )
        if SURROGATE_RE.search(value):
            raise ParamsError(f"the value of `{name}` holds a lone surrogate; it is not text")
        params[name] = value
    return params


def parse_kv_grid(tokens: Iterable[str]) -> dict[str, list[str]]:
    """Read ``name=value`` tokens for ``--grid``: a ``[a, b]`` value is an axis.

    The items of ``[...]`` are read like a YAML flow list, each item's text as written (the
    same as a list in a ``--grid`` cell body); any other value is a one-value axis. There are
    no ``{{ }}`` placeholders here: IPython has already expanded the line.

    >>> parse_kv_grid(["lr=[0.1, 1e-3]", "opt=adam"])
    {'lr': ['0.1', '1e-3'], 'opt': ['adam']}
    """
    axes: dict[str, list[str]] = {}
    for name, value in parse_kv_args(tokens).items():
        if not (value.startswith("[") and value.endswith("]")):
            axes[name] = [value]
            continue
        prefix = f"{name}: "
        try:
            axes[name] = grid_axes(Body(prefix + value, None, templating=False))[name]
        except ParamsError as err:
            message = str(err)
            where = ""
            if err.line is not None and err.column is not None:
                message = message.removeprefix(f"line {err.line}, column {err.column}: ")
                where = f" at character {max(err.column - len(prefix), 1)}"
            raise ParamsError(f"`{name}={short(value)}`{where}: {message}") from None
    return axes
