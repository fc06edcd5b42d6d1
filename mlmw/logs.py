"""Structured logs: every record carries the context it was logged in.

A context is a few named ids (task_name, task_id, mailing_id, batch_id, delivery_ids,
announcement_id, …) held in a contextvar. `bind(**fields)` adds to it for a block of code; the Celery
signals in mlmw/celery.py bind each task's name, id and its id arguments (`task_fields`) for the whole
run, so the task's own code logs as usual and every line still says what it was working on.
`ContextFilter` copies the context onto each record; `TextFormatter` and `JsonFormatter` print it
(LOG_FORMAT=text|json in settings).

Apps may register an enricher (`register_enricher`) that derives more ids from those bound, e.g. the
mailing and the delivery-id range of a batch (subscriptions/logcontext.py).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

# An immutable empty default: the context is only ever replaced (bind, task_started), never mutated.
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("mlmw_log_context", default=_EMPTY)
_task_tokens: dict[str, Token] = {}
_enrichers: list[Callable[[Mapping[str, Any]], Mapping[str, Any]]] = []

logger = logging.getLogger(__name__)

# The attributes every LogRecord has, so that JsonFormatter prints only what was added to it.
_RECORD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "context"}


def current() -> Mapping[str, Any]:
    return _context.get()


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add `fields` to the context of every record logged inside the block."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def register_enricher(enricher: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> None:
    """`enricher(fields)` returns more fields for a task's context (or {}); it must be cheap and
    must not raise (a failure is logged and ignored: logging never breaks a task)."""
    if enricher not in _enrichers:
        _enrichers.append(enricher)


def _id_like(name: str, value: Any) -> bool:
    if not (name.endswith("_id") or name.endswith("_ids")):
        return False
    if isinstance(value, list | tuple):
        return all(isinstance(item, int | str) for item in value)
    return isinstance(value, int | str)


def task_fields(task: Any, args: tuple | list | None, kwargs: Mapping | None) -> dict[str, Any]:
    """The task's name and id, and the arguments it was called with whose names end in _id/_ids.

    Tasks take ids (the project's rule), so the arguments name what the task works on.
    """
    fields: dict[str, Any] = {"task_name": task.name, "task_id": task.request.id}
    try:
        bound = inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {}))
    except (TypeError, ValueError):
        return fields  # called with arguments that do not fit: Celery reports that itself
    fields.update(
        (name, list(value) if isinstance(value, tuple) else value)
        for name, value in bound.arguments.items()
        if _id_like(name, value)
    )
    for enricher in _enrichers:
        try:
            fields.update({k: v for k, v in enricher(fields).items() if k not in fields})
        except Exception:
            logger.exception("log context enricher %r failed", enricher)
    return fields


def task_started(task_id: str, fields: Mapping[str, Any]) -> None:
    """Bind a task's fields until task_finished(task_id) (Celery's task_prerun/task_postrun)."""
    _task_tokens[task_id] = _context.set({**_context.get(), **fields})


def task_finished(task_id: str) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is None:
        return
    try:
        _context.reset(token)
    except ValueError:  # set in another context (a pool that switches threads): start clean
        _context.set(_EMPTY)


class ContextFilter(logging.Filter):
    """Adds the current context to the record: as `record.context` and as one attribute per field."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = dict(_context.get())
        record.context = context
        for name, value in context.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _context_of(record: logging.LogRecord) -> Mapping[str, Any]:
    return getattr(record, "context", None) or {}


class TextFormatter(logging.Formatter):
    """`time level logger message [name=value …]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context_of(record)
        if not context:
            return text
        pairs = " ".join(f"{name}={_text_value(value)}" for name, value in context.items())
        first, newline, rest = text.partition("\n")  # a traceback follows the first line
        return f"{first} [{pairs}]{newline}{rest}"


def _text_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, any extra fields
    given to the logging call, and the exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context_of(record))
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
