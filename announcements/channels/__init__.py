"""The channel registry: a channel is one module here listed in MODULES.

Each module defines one Channel subclass (announcements.channels.base) named in its CHANNEL attribute.
Adding Mastodon or a Slack webhook means one new module and one line below.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from announcements.channels.base import Channel, Posted, shorten

__all__ = ["Channel", "Posted", "all_channels", "configured", "get", "shorten"]

logger = logging.getLogger(__name__)

MODULES = ("telegram", "reddit", "webhook")


@cache
def all_channels() -> dict[str, type[Channel]]:
    """Every known channel class by name, configured or not."""
    found: dict[str, type[Channel]] = {}
    for module_name in MODULES:
        cls = importlib.import_module(f"announcements.channels.{module_name}").CHANNEL
        found[cls.name] = cls
    return found


def get(name: str) -> type[Channel]:
    return all_channels()[name]


# The channels that said in this process's log that they are off (each says it once).
said_off: set[str] = set()


def configured() -> list[Channel]:
    """The channels that are on, built from the current settings. Each channel that is off says so
    in the log once per process."""
    channels = []
    for name, cls in all_channels().items():
        channel = cls.configured()
        if channel is not None:
            channels.append(channel)
        elif name not in said_off:
            said_off.add(name)
            logger.info("channel %s is off: %s", name, cls.off_reason())
    return channels
