"""The one rule that keeps the subscriber CSV safe to open in a spreadsheet and still importable.

Excel and LibreOffice run a cell that begins with = + - @, a tab or a carriage return as a formula
(CSV or formula injection, OWASP), and a subscriber's address or source may begin with any of them:
`=1+1@example.org` and `-x@example.org` are valid addresses. So:

- The export (`protect`) writes one apostrophe before every cell that begins with = + - @ TAB CR (or
  their full-width forms), or with an apostrophe. A spreadsheet shows such a cell as text and runs
  nothing.
- The import (`unprotect`) removes exactly one leading apostrophe from a cell whose next character is
  one of = + - @ TAB CR or an apostrophe, and leaves every other cell as it is.

`unprotect(protect(v)) == v` for every value, so an export imports back to the same addresses. An
apostrophe before any other character is kept (`'x@example.org` is that address). A hand-written
file reads an apostrophe before = + - @ ' as a spreadsheet's "this is text" mark, as a spreadsheet
user types it: `'=x@example.org` imports as `=x@example.org`, and the address `'=x@example.org`
itself is written `''=x@example.org`, as the export writes it.
"""

from __future__ import annotations

# What a spreadsheet reads as the start of a formula (OWASP's list), and the escape itself: an
# apostrophe is escaped too, so that a value which begins with one reads back unchanged.
# Their full-width forms too (U+FF1D, U+FF0B, U+FF0D, U+FF20): some spreadsheets with East Asian
# input settings read them as the ASCII ones.
_ESCAPED_STARTS = ("=", "+", "-", "@", "\t", "\r", "'", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def protect(value: str) -> str:
    """The cell as the export writes it: `value`, with an apostrophe before it if it needs one."""
    return "'" + value if value.startswith(_ESCAPED_STARTS) else value


def unprotect(cell: str) -> str:
    """The value of a cell as the import reads it: `protect` undone, any other cell unchanged."""
    if cell.startswith("'") and cell.startswith(_ESCAPED_STARTS, 1):
        return cell[1:]
    return cell
