"""The diff's shortcuts give what the long way gives, and leave the process as they found it.

guide.diff skips work where it can prove the answer (difflib is not run on runs of blocks that
have nothing in common; stored parses load without the dataclasses' own state protocol; the
garbage collector is paused while a parse loads and a diff runs) and uses cydifflib, difflib
compiled, where it is installed. Each is checked here against the long way on generated input.
"""

from __future__ import annotations

import copyreg
import difflib
import gc
import io
import pickle
import threading
from dataclasses import fields, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guide.diff import (
    WORD_TOKEN,
    LinkChange,
    ParsedGuide,
    ParsedSection,
    block_opcodes,
    diff_guides,
    parse_guide,
)

GUIDE = """Intro with [a link](https://e.com/intro).

# Tools

- [PyTorch](https://pytorch.org) - tensors
- [JAX](https://jax.dev) - `grad`

| Name | Link |
| --- | --- |
| NumPy | [docs](https://numpy.org) |

```python
import torch
```

## Tools

> A quote with [a link](https://e.com/q).
"""

# Few distinct blocks, so that runs share some and not others.
block_runs = st.lists(st.sampled_from(["a", "b", "c", "d", "see also"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(block_runs, block_runs)
def test_aligning_blocks_gives_difflibs_opcodes(a: list[str], b: list[str]) -> None:
    expected = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    assert block_opcodes(a, b) == expected


# Paragraphs from few words, so that the word diff's matcher meets repeats and near-misses.
paragraphs = st.lists(
    st.sampled_from(["the", "model", "data", "loss", "a", "don't", ",", ".", "(see", "it)"]),
    max_size=40,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(paragraphs, paragraphs)
def test_cydifflib_matches_words_as_difflib_does(old: str, new: str) -> None:
    cydifflib = pytest.importorskip("cydifflib")
    a, b = WORD_TOKEN.findall(old), WORD_TOKEN.findall(new)
    expected = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    assert cydifflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() == expected


def test_a_link_change_shown_in_a_paragraph_keeps_every_other_field() -> None:
    values = {f.name: True if f.type == "bool" else f"<{f.name}>" for f in fields(LinkChange)}
    change = LinkChange(**{**values, "in_paragraph": False})
    assert change.shown_in_paragraph() == replace(change, in_paragraph=True)


class _StateFormPickler(pickle.Pickler):
    """Pickles parses the way dataclasses do by default: the class, then its field state."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, ParsedGuide | ParsedSection):
            return copyreg.__newobj__, (type(obj),), obj.__getstate__()  # type: ignore[attr-defined]
        return NotImplemented


def test_a_stored_parse_in_the_dataclass_state_form_still_loads() -> None:
    parsed = parse_guide(GUIDE)
    buffer = io.BytesIO()
    _StateFormPickler(buffer, protocol=5).dump(parsed)
    assert b"ParsedSection" in buffer.getvalue()

    assert ParsedGuide.from_bytes(buffer.getvalue()) == parsed
    assert ParsedGuide.from_bytes(parsed.to_bytes()) == parsed


def test_loading_and_diffing_leave_the_garbage_collector_as_they_found_it() -> None:
    old, new = parse_guide(GUIDE), parse_guide(GUIDE.replace("tensors", "arrays"))
    data = old.to_bytes()
    assert gc.isenabled()
    try:
        assert not diff_guides(ParsedGuide.from_bytes(data), new).is_empty
        assert gc.isenabled()

        gc.disable()  # a process that runs without the collector keeps it off
        assert not diff_guides(ParsedGuide.from_bytes(data), new).is_empty
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_concurrent_diffs_leave_the_garbage_collector_on() -> None:
    old, new = parse_guide(GUIDE), parse_guide(GUIDE.replace("tensors", "arrays"))
    data = old.to_bytes()
    results: list[bool] = []

    def work() -> None:
        for _ in range(20):
            results.append(diff_guides(ParsedGuide.from_bytes(data), new).is_empty)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [False] * 80
    assert gc.isenabled()
