"""Version numbers: MAJOR.MINOR.PATCH, compared by their parts as numbers (0.10.0 > 0.9.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

# re.ASCII: without it \d also matches other scripts' digits, and int() reads "1٣" as 13.
_NUMBER = re.compile(r"(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})", re.ASCII)

MAJOR, MINOR, PATCH = "major", "minor", "patch"


@dataclass(frozen=True, order=True, slots=True)
class VersionNumber:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> VersionNumber:
        """Parse "1.2.3"; anything else (a "v" prefix, leading zeros, pre-release tags) is an error."""
        match = _NUMBER.fullmatch(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValidationError(
                "%(value)r is not a version number like 1.4.0 (three whole numbers, no leading zeros).",
                code="invalid_version",
                params={"value": text},
            )
        return cls(*(int(part) for part in match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def bump_from(self, previous: VersionNumber | None) -> str:
        """How big a step this number is from `previous`: the first version counts as major."""
        if previous is None or self.major != previous.major:
            return MAJOR
        if self.minor != previous.minor:
            return MINOR
        return PATCH


def validate_version_number(value: str) -> None:
    VersionNumber.parse(value)
