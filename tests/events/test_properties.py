"""Property: decoding never raises, and whatever it types is faithful to the headers."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.events import EVENT_TYPES, AmiEvent, UndecodableEvent, UnknownEvent, decode_headers

from .test_decode import check_event

NAMES = sorted(EVENT_TYPES)


def wire_names(name: str) -> list[str]:
    info = msgspec.inspect.type_info(EVENT_TYPES[name])
    assert isinstance(info, msgspec.inspect.StructType)
    return [f.encode_name for f in info.fields if not f.encode_name.startswith("__")]


values = st.one_of(
    st.sampled_from(["", "0", "12", "-3", "Up", "No", "a=b", "X=", "1795662000.5", "Ringing"]),
    st.text(max_size=12).filter(lambda s: "\r" not in s and "\n" not in s),
)


@st.composite
def frames(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    name = draw(st.sampled_from(NAMES))
    keys = [*wire_names(name), "Odd", "ChanVariable(Local/1@x-1;1)", "Timestamp"]
    pairs = draw(st.lists(st.tuples(st.sampled_from(keys), values), max_size=12))
    event_name = draw(st.sampled_from([name, name.lower(), "NotAnEvent"]))
    return (("Event", event_name), *pairs)


@settings(max_examples=300, deadline=None)
@given(frames())
def test_decode_never_raises_and_is_faithful(headers: tuple[tuple[str, str], ...]) -> None:
    event = decode_headers(headers)
    assert isinstance(event, AmiEvent)
    if headers[0][1] == "NotAnEvent":
        assert isinstance(event, UnknownEvent)
        assert event.headers == headers
    elif isinstance(event, UndecodableEvent):
        assert event.headers == headers
        assert event.error
    else:
        assert type(event) is EVENT_TYPES[headers[0][1]]
        check_event(headers, event)


def test_null_text_in_a_number_or_enum_field_is_not_lost() -> None:
    """msgspec's lax mode reads "null" as None: the header must survive (undecodable event)."""
    for key, value in [("ChannelState", "NULL"), ("Timestamp", "null"), ("ChannelState", "Null")]:
        headers = (("Event", "Newstate"), (key, value))
        event = decode_headers(headers)
        assert isinstance(event, UndecodableEvent), event
        assert event.headers == headers
        test_decode_never_raises_and_is_faithful.hypothesis.inner_test(headers)  # type: ignore[attr-defined]
