"""The call-record rules on flows the lab captures do not have, derived from them.

* Variants of real captures, edited frame by frame: the screening capture with the other
  results a Dial ``U()``/``M()`` routine can return (CONTINUE, GOTO, BUSY); the queue capture
  with every ``QueueCallerJoin`` removed (callers first met mid-queue).
* Hand-written streams in the shape of the captures for what a field PBX sends instead of the
  lab's Local channels: click-to-dial with ``Originate Channel: PJSIP/<A>`` (answered, B busy,
  A never answers), and call acceptance through a Local channel whose other half dials the
  called phone (the caller is bridged to the Local half before anyone answered).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from tests.helpers import FIXTURES
from tracker.ami import AmiConnection
from tracker.capture import iter_frames
from tracker.events import envelopes
from tracker.reducer import Reducer
from tracker.replay import ReplayResult, fold, replay
from tracker.state.call import Call
from tracker.state.channel import ChannelDtmf

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
STATES = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def fold_bytes(data: bytes) -> ReplayResult:
    return fold(envelopes(AmiConnection().frames(data)))


def edited(name: str, edit: Callable[[bytes], bytes | None]) -> ReplayResult:
    """Replay ``fixtures/NAME.ami`` with every message passed through ``edit`` (None drops it)."""
    data = (FIXTURES / f"{name}.ami").read_bytes()
    banner, _, rest = data.partition(b"\r\n")
    out = [banner + b"\r\n"]
    for msg in rest.split(b"\r\n\r\n"):
        if msg:
            new = edit(msg)
            if new is not None:
                out.append(new + b"\r\n\r\n")
    return fold_bytes(b"".join(out))


def by_caller(result: ReplayResult) -> dict[str, Call]:
    return {c.caller.num: c for c in result.call_records}


# -- screening: the other results of a U()/M() routine --------------------------------------


@functools.cache
def screening() -> dict[str, Call]:
    return by_caller(replay(FIXTURES / "screening.ami"))


@pytest.mark.parametrize(
    ("status", "disposition"),
    [(b"CONTINUE", "NO ANSWER"), (b"GOTO:lab^s^1", "NO ANSWER"), (b"BUSY", "BUSY")],
)
def test_screening_results(status: bytes, disposition: str) -> None:
    result = edited(
        "screening", lambda m: m.replace(b"DialStatus: ABORT", b"DialStatus: " + status)
    )
    ours = by_caller(result)
    assert result.anomalies == []
    for caller, real in screening().items():
        call = ours[caller]
        if real.answer is not None:  # accepted: unchanged
            assert call.disposition == "ANSWERED"
            assert call.billsec == pytest.approx(real.billsec)
        else:
            assert call.disposition == disposition
            assert call.dial_status == status.decode()
            assert call.callee == real.callee


# -- queue: callers first met mid-queue -----------------------------------------------------


def test_queue_callers_met_mid_queue() -> None:
    full = {c.linkedid: c for c in replay(FIXTURES / "queue.ami").call_records}
    late = edited("queue", lambda m: None if m.startswith(b"Event: QueueCallerJoin") else m)
    ours = {c.linkedid: c for c in late.call_records}
    queued = [c for c in full.values() if c.queue is not None]
    assert len(queued) == 5
    for real in queued:
        assert real.queue is not None
        passage = ours[real.linkedid].queue
        assert passage is not None, real.linkedid
        assert passage.joined_late and not real.queue.joined_late
        assert passage.name == real.queue.name
        assert passage.outcome == real.queue.outcome
        assert passage.agent == real.queue.agent
        assert passage.position == real.queue.position
        # HoldTime (AgentConnect, QueueCallerAbandon) holds whole seconds
        assert passage.wait is not None and real.queue.wait is not None
        assert abs(passage.wait - real.queue.wait) < 1.0
        assert abs(passage.joined - real.queue.joined) < 1.0
        assert ours[real.linkedid].answer == real.answer


def test_queue_caller_met_mid_queue_dated_by_the_queue_list() -> None:
    """Without ``HoldTime`` either, the wait of a caller that QueueStatus listed comes from the
    list's ``Wait``; a caller known only from its leave has an unknown wait."""

    def edit(m: bytes) -> bytes | None:
        if m.startswith(b"Event: QueueCallerJoin"):
            return None
        return b"\r\n".join(h for h in m.split(b"\r\n") if not h.startswith(b"HoldTime:"))

    full = {c.linkedid: c for c in replay(FIXTURES / "queue.ami").call_records}
    ours = {c.linkedid: c for c in edited("queue", edit).call_records}
    listed = "1795663855.6"  # the QueueEntry of the QueueStatus taken while it waited
    for linkedid, real in full.items():
        assert real.queue is not None
        passage = ours[linkedid].queue
        assert passage is not None and passage.joined_late
        assert passage.outcome == real.queue.outcome
        if linkedid == listed:
            # ``Wait`` holds whole seconds, and a list item has no Timestamp: the fold dates it
            # by the last event before it (here ~2 s earlier), so the estimate is coarse.
            assert passage.wait is not None and real.queue.wait is not None
            assert abs(passage.wait - real.queue.wait) < 3.0
        else:
            assert passage.wait is None


# -- DTMF: END-only digits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capture", "count"),
    [("transfers.ami", 5), ("hold_moh_mixmonitor.ami", 7), ("load.ami.gz", 0)],
)
def test_end_only_dtmf_is_marked_not_an_anomaly(capture: str, count: int) -> None:
    """The feature digits Atxfer/CancelAtxfer queue on the transferer are END only (received);
    SendDTMF digits (load) come with their begin, in both directions."""
    reducer = Reducer()
    dtmf = [
        c
        for env in envelopes(iter_frames(FIXTURES / capture))
        for c in reducer.apply(env)
        if isinstance(c, ChannelDtmf) and c.end
    ]
    end_only = [c for c in dtmf if c.end_only]
    assert len(end_only) == count
    assert {c.direction for c in end_only} <= {"Received"}
    assert dtmf
    assert reducer.world.anomalies == 0


# -- hand-written field flows ------------------------------------------------------------------


class Pbx:
    """Writes AMI events the way Asterisk 22 does (full channel snapshots, Timestamp)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.out = [BANNER]
        self.channels: dict[str, dict[str, str]] = {}
        self.count = 0

    def snapshot(self, uid: str, prefix: str = "") -> dict[str, str]:
        return {prefix + k: v for k, v in self.channels[uid].items()}

    def event(self, name: str, *parts: dict[str, str], dt: float = 0.01, **extra: str) -> None:
        self.t += dt
        headers = {"Event": name, "Privilege": "call,all", "Timestamp": f"{self.t:.6f}"}
        for p in parts:
            headers.update(p)
        headers.update(extra)
        self.out.append(b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n")

    def local(self, name: str, num: str, *, linkedid: str) -> tuple[str, str]:
        """A Local channel pair ``name-<n>;1`` / ``;2`` (LocalBridge included)."""
        suffix = f"-{self.count:08x}"
        one = self.new(name + suffix + ";1", num, linkedid=linkedid, full=True)
        two = self.new(name + suffix + ";2", num, linkedid=linkedid, full=True)
        self.event("LocalBridge", self.snapshot(one, "LocalOne"), self.snapshot(two, "LocalTwo"))
        return one, two

    def new(
        self,
        name: str,
        num: str,
        *,
        linkedid: str | None = None,
        exten: str = "s",
        full: bool = False,
    ) -> str:
        uid = f"{int(self.t)}.{self.count}"
        self.count += 1
        self.channels[uid] = {
            "Channel": name if full else f"{name}-{self.count:08x}",
            "ChannelState": "0",
            "ChannelStateDesc": "Down",
            "CallerIDNum": num,
            "CallerIDName": "",
            "ConnectedLineNum": "",
            "ConnectedLineName": "",
            "Language": "en",
            "AccountCode": "",
            "Context": "from-internal",
            "Exten": exten,
            "Priority": "1",
            "Uniqueid": uid,
            "Linkedid": linkedid or uid,
        }
        self.event("Newchannel", self.snapshot(uid))
        return uid

    def state(self, uid: str, state: int) -> None:
        self.channels[uid]["ChannelState"] = str(state)
        self.channels[uid]["ChannelStateDesc"] = STATES[state]
        self.event("Newstate", self.snapshot(uid))

    def goto(self, uid: str, exten: str, app: str, data: str = "") -> None:
        self.channels[uid]["Exten"] = exten
        self.event("Newexten", self.snapshot(uid), Extension=exten, Application=app, AppData=data)

    def dial(self, caller: str | None, dest: str, status: str | None = None) -> None:
        """DialBegin, or DialEnd with ``status``; ``caller=None``: Originate's own dial."""
        parts = [self.snapshot(dest, "Dest")]
        if caller is not None:
            parts.insert(0, self.snapshot(caller))
        if status is None:
            self.event("DialBegin", *parts, DialString=self.channels[dest]["Channel"])
        else:
            self.event("DialEnd", *parts, DialStatus=status)

    def bridge(self, *uids: str) -> str:
        bid = f"bridge-{self.count}"
        self.count += 1
        self.event("BridgeCreate", BridgeUniqueid=bid, BridgeType="basic")
        for uid in uids:
            self.event("BridgeEnter", self.snapshot(uid), BridgeUniqueid=bid, BridgeType="basic")
        return bid

    def hangup(self, *uids: str, cause: int = 16) -> None:
        for uid in uids:
            self.event("Hangup", self.snapshot(uid), Cause=str(cause), dt=0.001)

    def originate_response(self, channel: str, exten: str, uid: str, ok: bool) -> None:
        self.event(
            "OriginateResponse",
            Response="Success" if ok else "Failure",
            Channel=channel,
            Context="from-internal",
            Exten=exten,
            Reason="4" if ok else "3",
            Uniqueid=uid,
            CallerIDNum="201",
            CallerIDName="Anna",
        )

    def result(self) -> ReplayResult:
        return fold_bytes(b"".join(self.out))


def pjsip_click_to_dial(b_status: str) -> tuple[Call, dict[str, float]]:
    """``Originate Channel: PJSIP/201 Context: from-internal Exten: 202``: A's phone is the
    originated channel itself; once A answers it dials B. Returns the record and times."""
    pbx = Pbx()
    marks: dict[str, float] = {}
    a = pbx.new("PJSIP/201", "201")
    pbx.dial(None, a)
    pbx.state(a, 5)
    pbx.state(a, 6)
    pbx.dial(None, a, "ANSWER")
    marks["a_answered"] = pbx.t
    pbx.originate_response("PJSIP/201", "202", a, ok=True)
    pbx.goto(a, "202", "Dial", "PJSIP/202,20")
    b = pbx.new("PJSIP/202", "201", linkedid=a)
    pbx.dial(a, b)
    pbx.state(b, 5)
    if b_status == "ANSWER":
        pbx.state(b, 6)
        pbx.dial(a, b, "ANSWER")
        pbx.bridge(b, a)
        marks["connected"] = pbx.t
        pbx.t += 30
        pbx.hangup(a, b)
    else:
        pbx.dial(a, b, b_status)
        pbx.hangup(b, a, cause=17 if b_status == "BUSY" else 16)
    result = pbx.result()
    assert result.anomalies == []
    (call,) = result.call_records
    return call, marks


def test_pjsip_click_to_dial_answered() -> None:
    call, marks = pjsip_click_to_dial("ANSWER")
    assert call.origin == "originate"
    assert (call.caller.num, call.callee and call.callee.num) == ("201", "202")
    assert call.disposition == "ANSWERED"
    assert call.caller_answer == pytest.approx(marks["a_answered"])
    assert call.answer == pytest.approx(marks["connected"])
    assert call.billsec == pytest.approx(30.0, abs=0.1)


@pytest.mark.parametrize(("status", "disposition"), [("BUSY", "BUSY"), ("NOANSWER", "NO ANSWER")])
def test_pjsip_click_to_dial_b_not_reached(status: str, disposition: str) -> None:
    call, marks = pjsip_click_to_dial(status)
    assert (call.caller.num, call.callee and call.callee.num) == ("201", "202")
    assert call.disposition == disposition
    assert call.answer is None and call.billsec == 0.0
    assert call.caller_answer == pytest.approx(marks["a_answered"])


def test_pjsip_click_to_dial_a_never_answers() -> None:
    """No CallerID in the Originate: A is named by the dialled resource. B (the Originate's Exten)
    is only in the OriginateResponse, which here still finds the call up."""
    pbx = Pbx()
    a = pbx.new("PJSIP/201", "")
    pbx.dial(None, a)
    pbx.state(a, 5)
    pbx.originate_response("PJSIP/201", "202", "<unknown>", ok=False)
    pbx.hangup(a, cause=19)
    (call,) = pbx.result().call_records
    assert call.origin == "originate"
    assert call.caller.num == "201"
    assert call.callee is not None and call.callee.num == "202"
    assert call.disposition == "NO ANSWER"
    assert call.caller_answer is None and call.answer is None


@pytest.mark.parametrize("accept", [True, False])
def test_acceptance_behind_an_answered_local_channel(accept: bool) -> None:
    """``Dial(Local/200@accept)`` where ``[accept]`` runs ``Answer()`` and then
    ``Dial(PJSIP/200,20,mU(screen))``: the caller is bridged to the ``;1`` half (hearing MOH)
    while the ``;2`` half still dials the phone; connected only when the phone accepts."""
    pbx = Pbx()
    caller = pbx.new("PJSIP/100", "100")
    pbx.goto(caller, "200", "Dial", "Local/200@accept")
    one, two = pbx.local("Local/200@accept", "100", linkedid=caller)
    pbx.dial(caller, one)
    pbx.state(two, 6)
    pbx.state(one, 6)
    phone = pbx.new("PJSIP/200", "100", linkedid=caller)
    pbx.goto(two, "200", "Dial", "PJSIP/200,20,mU(screen)")
    pbx.dial(two, phone)
    pbx.dial(caller, one, "ANSWER")
    pbx.bridge(one, caller)
    pbx.t += 5
    pbx.state(phone, 6)  # the phone answers; the screening runs on it
    pbx.t += 3
    if accept:
        pbx.dial(two, phone, "ANSWER")
        pbx.bridge(phone, two)
        connected = pbx.t
        pbx.t += 10
    else:
        pbx.dial(two, phone, "ABORT")
    pbx.hangup(phone, two, one, caller)
    result = pbx.result()
    assert result.anomalies == []
    (call,) = result.call_records
    assert call.callee is not None and call.callee.num == "200"
    if accept:
        assert call.disposition == "ANSWERED"
        assert call.answer == pytest.approx(connected)
        assert call.callee.channel.startswith("PJSIP/200-")
    else:
        assert call.disposition == "NO ANSWER"
        assert call.answer is None and call.billsec == 0.0


@pytest.mark.parametrize("accept", [True, False])
def test_confirm_through_a_local_channel(accept: bool) -> None:
    """Follow-me style confirmation: ``Dial(Local/200@confirm)`` whose ``;2`` half dials the
    phone with ``M(confirm)``; the Local channel answers only once the phone accepted."""
    pbx = Pbx()
    caller = pbx.new("PJSIP/100", "100")
    pbx.goto(caller, "200", "Dial", "Local/200@confirm")
    one, two = pbx.local("Local/200@confirm", "100", linkedid=caller)
    pbx.dial(caller, one)
    phone = pbx.new("PJSIP/200", "100", linkedid=caller)
    pbx.goto(two, "200", "Dial", "PJSIP/200,20,M(confirm)")
    pbx.dial(two, phone)
    pbx.t += 4
    pbx.state(phone, 6)
    pbx.t += 3
    if accept:
        pbx.dial(two, phone, "ANSWER")
        pbx.bridge(phone, two)
        pbx.state(two, 6)
        pbx.state(one, 6)
        pbx.dial(caller, one, "ANSWER")
        pbx.bridge(one, caller)
        connected = pbx.t
        pbx.t += 10
        pbx.hangup(phone, two, one, caller)
    else:
        pbx.dial(two, phone, "ABORT")
        pbx.hangup(phone, two)
        pbx.dial(caller, one, "NOANSWER")
        pbx.hangup(one, caller)
    (call,) = pbx.result().call_records
    assert call.callee is not None and call.callee.num == "200"
    if accept:
        assert call.disposition == "ANSWERED"
        assert call.answer == pytest.approx(connected)
    else:
        assert call.disposition == "NO ANSWER"
        assert call.answer is None
