"""Version numbers are MAJOR.MINOR.PATCH, strictly written, and compared as numbers."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from guide.versioning import MAJOR, MINOR, PATCH, VersionNumber, validate_version_number


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.10.2", (0, 10, 2)),
        ("0.0.0", (0, 0, 0)),
        ("1.0.0", (1, 0, 0)),
        ("12.345.6789", (12, 345, 6789)),
        ("999999999.0.1", (999999999, 0, 1)),
    ],
)
def test_a_plain_three_part_number_parses_into_its_parts(text, parts):
    number = VersionNumber.parse(text)

    assert (number.major, number.minor, number.patch) == parts
    assert str(number) == text


@pytest.mark.parametrize(
    "text",
    [
        "v1.0.0",
        "1.0",
        "1",
        "1.0.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.01",
        "1.0.0-rc1",
        "1.0.0+build",
        "1.0.x",
        "-1.0.0",
        "1..0",
        "1.0.0 beta",
        "1,0,0",
        "1234567890.0.0",
        "1\N{ARABIC-INDIC DIGIT THREE}.0.0",
        "1.0.\N{FULLWIDTH DIGIT ONE}",
        "",
        " ",
    ],
)
def test_anything_but_a_plain_number_is_rejected_with_a_clear_message(text):
    with pytest.raises(ValidationError) as excinfo:
        VersionNumber.parse(text)

    assert excinfo.value.code == "invalid_version"
    assert "is not a version number like 1.4.0" in excinfo.value.messages[0]
    assert repr(text) in excinfo.value.messages[0]


@pytest.mark.parametrize("value", [None, 1, 1.0, b"1.0.0", ["1", "0", "0"], (1, 0, 0)])
def test_a_value_that_is_not_a_string_is_rejected(value):
    with pytest.raises(ValidationError, match="is not a version number"):
        VersionNumber.parse(value)


def test_the_model_field_validator_rejects_the_same_inputs():
    validate_version_number("0.10.2")
    with pytest.raises(ValidationError):
        validate_version_number("v0.10.2")


def test_numbers_order_numerically_not_as_text():
    parse = VersionNumber.parse

    assert parse("0.10.0") > parse("0.9.0")
    assert parse("0.10.1") > parse("0.10.0")
    assert parse("1.0.0") > parse("0.99.99")
    assert parse("2.0.0") < parse("10.0.0")
    assert parse("0.10.0") == parse("0.10.0")
    texts = ["1.0.0", "0.10.1", "0.9.0", "0.10.0", "0.2.0"]
    assert [str(n) for n in sorted(map(parse, texts))] == [
        "0.2.0",
        "0.9.0",
        "0.10.0",
        "0.10.1",
        "1.0.0",
    ]


def test_the_first_version_is_a_major_step():
    assert VersionNumber.parse("0.9.0").bump_from(None) == MAJOR
    assert VersionNumber.parse("0.0.1").bump_from(None) == MAJOR


@pytest.mark.parametrize(
    ("previous", "number", "bump"),
    [
        ("0.10.1", "1.0.0", MAJOR),
        ("1.4.2", "2.0.0", MAJOR),
        ("0.9.0", "0.10.0", MINOR),
        ("0.10.0", "0.11.0", MINOR),
        ("0.10.3", "0.11.0", MINOR),
        ("0.10.0", "0.10.1", PATCH),
        ("0.10.1", "0.10.7", PATCH),
    ],
)
def test_the_step_from_the_previous_number_is_major_minor_or_patch(previous, number, bump):
    assert VersionNumber.parse(number).bump_from(VersionNumber.parse(previous)) == bump
