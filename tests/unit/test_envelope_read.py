"""The envelope's two ways of reading a record (:func:`callstream.envelope.read`): the fast
way through callstream's own layout and the general way agree byte for byte on every record
ingest writes, and on any other bytes the fast way either declines or reads the same."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from callstream.envelope import EnvelopeError, Fields, encode, read, read_any, read_own
from projector.interpret import USED


def outcome(
    how: Callable[[bytes | str | None, tuple[str, ...]], Fields], value: bytes | str
) -> Fields | str:
    """What one way of reading gives for ``value`` with the projector's parameters: its
    fields, or the reason it is not an envelope."""
    try:
        return how(value, USED)
    except EnvelopeError as e:
        return f"malformed-envelope: {e}"


_text = st.text(max_size=30)
_names = st.sampled_from(["CallSid", "SequenceNumber", "CallStatus", "Timestamp", "To", "X"])
_params = st.lists(st.tuples(st.one_of(_names, _text), _text).map(list), max_size=8)


@settings(max_examples=400, deadline=None)
@given(_text, _text, _text, _params, st.one_of(st.none(), _text))
def test_own_layout_gives_what_the_general_way_gives(
    received_at: str, method: str, url: str, params: list[list[str]], tok: str | None
) -> None:
    """A record as ingest writes it takes the fast way, and yields the same as the general
    way, byte for byte (its params text is the record's own)."""
    value = encode(received_at, method, url, params, tok)
    fast = outcome(read, value)
    assert read_own(value.decode(), USED) is not None
    assert fast == outcome(read_any, value)
    assert fast == outcome(read_any, value.decode())  # str records (no fast way) agree


def _variants(value: bytes, data: st.DataObject) -> bytes:
    """The record re-encoded in another layout, or with a few bytes changed."""
    obj = json.loads(value)
    how = data.draw(st.sampled_from(["keys", "spaces", "ascii", "extra", "dup", "bytes"]))
    if how == "keys":
        keys = data.draw(st.permutations(list(obj)))
        return json.dumps({k: obj[k] for k in keys}, separators=(",", ":")).encode()
    if how == "spaces":
        return json.dumps(obj, ensure_ascii=False).encode()
    if how == "ascii":
        return json.dumps(obj, separators=(",", ":")).encode()
    if how == "extra":
        return value[:-1] + b',"more":{"params":[]}}'
    if how == "dup":  # a second params key: JSON keeps the last one
        tail = b',"idempotency_token"'
        return value.replace(tail, b',"params":[]' + tail)
    out = bytearray(value)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(out) - 1))
        out[i : i + 1] = data.draw(st.binary(max_size=2))
    return bytes(out)


@settings(max_examples=600, deadline=None)
@given(_text, _text, _params, st.one_of(st.none(), _text), st.data())
def test_other_layouts_and_damaged_records_agree_with_the_general_way(
    received_at: str, url: str, params: list[list[str]], tok: str | None, data: st.DataObject
) -> None:
    """Whatever the bytes, the fast way either declines or reads the same thing: the same
    verdict, the same fields and the same parameters (its text may keep the record's own
    spelling, e.g. spaces, which is still the same JSON)."""
    value = _variants(encode(received_at, "POST", url, params, tok), data)
    got, want = outcome(read, value), outcome(read_any, value)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want
        return
    assert got[:3] == want[:3]
    assert json.loads(got[3]) == json.loads(want[3])
