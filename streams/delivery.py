"""A Faust consumer that hands records to their handler, or to their stream, without the four
tasks per record Faust spends.

Faust's fetch loop delivers every record with ``wait_first(callback(message),
suspend_flow.wait())``: the delivery runs as a task, raced against the flow being suspended
(a rebalance) and the consumer stopping or crashing, four tasks and an ``asyncio.wait`` per
record. Almost always the delivery completes at once (the stream's buffer has room, the flow
is not suspended): that race was a quarter of the worker's time.

This consumer runs the delivery's first step inline. When it completes, there was nothing to
race; when it waits (a full buffer, flow control during a rebalance, a full producer buffer),
the rest of it is raced exactly as Faust does. A suspended flow takes Faust's path from the
start, but for a directly handled record. ``wait_first`` is called only by that fetch loop in
Faust's consumer.

Records of a topic given a handler (``handle_directly``) skip Faust's conductor, event, stream
buffer and agent: the fetch loop hands each to its handler and acknowledges it, with the
stream's rules (``_hand_over``); a handler that waits is awaited, not raced against a flow
suspended meanwhile or before (cancelled half-way it would leave its record half-handled; a
record that arrives while the flow is stopped is skipped by ``_hand_over`` itself). The worker
counts so: Faust's per-record path to an agent was ~60 % of its time.

``RawSchema`` hands each record's key and value bytes to a stream as they are, without a pass
through Faust's serializer registry (two registry look-ups and codec calls per record returning
their input: 4 % of the worker when it read through a stream). The worker's records no longer
reach it (they go to their handler); it stays the source topic's declared schema, and
``bench/faust_floor.py --path agent`` reads through it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import monotonic
from typing import Any

import faust
from faust.streams import _current_event  # Faust's own "event in hand", read by its tables
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer
from faust.types import AppT, Message
from mode.services import WaitResults


class _Rest:
    """The rest of coroutine ``coro`` whose first step ran inline and yielded ``pending``: a
    task awaiting this waits on ``pending``, then resumes ``coro`` as its own task would."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                sent = yield pending
            except BaseException as exc:  # cancelled, or the awaited future failed: into coro
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration as done:
                    return done.value


def first_step(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first wait: ``(True, result)`` when it completed, else
    ``(False, rest)``, ``rest`` an awaitable of the remainder (to await in a task)."""
    try:
        pending = coro.send(None)
    except StopIteration as done:
        return True, done.value
    return False, _Rest(coro, pending)


def _close(coros: tuple[Any, ...]) -> None:
    for coro in coros:
        if asyncio.iscoroutine(coro):
            coro.close()


class _InHand:
    """The record a handler has in hand, where Faust's tables look for the current event (a
    table write needs its ``message``: its partition, topic and timestamp)."""

    __slots__ = ("__weakref__", "message")

    def __init__(self) -> None:
        self.message: Message | None = None


Handler = Callable[[Message], Awaitable[None]]
HANDLERS = "sessionflow_handlers"  # the app's attribute holding ``handle_directly``'s handlers
FETCH = "sessionflow_fetch"  # the app's attribute holding ``fetch_at_least``'s limits


def fetch_at_least(app: AppT, min_bytes: int, max_wait_ms: int) -> None:
    """Have ``app``'s consumer (an ``InlineDeliveryConsumer``) ask the broker for ``min_bytes``
    per fetch, waiting at most ``max_wait_ms`` for them (Faust passes neither to aiokafka: 1
    byte, so under a live stream a fetch went out for every few records). Call before the app
    starts."""
    vars(app)[FETCH] = (min_bytes, max_wait_ms)


class _FetchingThread(AIOKafkaConsumerThread):
    """Faust's consumer thread, its aiokafka consumer made with the app's fetch limits."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        made = super()._create_worker_consumer(transport)
        limits = vars(self.app).get(FETCH)
        if limits is not None:  # aiokafka hands them to its fetcher when it starts
            made._fetch_min_bytes, made._fetch_max_wait_ms = limits
        return made


def handle_directly(app: AppT, topic: str, handler: Handler) -> None:
    """Have ``app``'s consumer (an ``InlineDeliveryConsumer``) hand each record of ``topic`` to
    ``handler`` itself, in its fetch loop, one after the other in offset order, instead of
    through Faust's conductor, an event, a stream buffer and an agent. Call before the app
    starts (before or after its consumer is made); the topic must be subscribed
    (``app.topics.add``)."""
    vars(app).setdefault(HANDLERS, {})[topic] = handler


class InlineDeliveryConsumer(Consumer):
    """Faust's aiokafka consumer, delivering records inline when nothing makes them wait and
    handing the records of some topics to their handler directly."""

    _handling = False  # a record is in its handler (``_hand_over``)

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        return _FetchingThread(self, loop=self.loop, beacon=self.beacon)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conduct = self.callback
        # The app's own dict: a handler given after the consumer exists is still used.
        self._handlers: dict[str, Handler] = vars(self.app).setdefault(HANDLERS, {})
        self.callback = self._deliver
        self._in_hand = _InHand()
        self._in_hand_ref = weakref.ref(self._in_hand)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 (Faust's signature)
        delivery = coros[0] if coros else None
        if timeout is not None or not asyncio.iscoroutine(delivery):
            return await super().wait_first(*coros, timeout=timeout)
        # A suspended flow races a delivery to a stream, as Faust does; a direct handler's never
        # (``_hand_over`` itself skips the record while the flow is stopped).
        if self.suspend_flow.is_set() and getattr(delivery, "cr_code", None) is not _HAND_OVER:
            return await super().wait_first(*coros)
        try:
            completed, outcome = first_step(delivery)
        except BaseException:
            _close(coros[1:])
            raise
        if completed or self._handling:
            _close(coros[1:])  # never started: nothing to race
            # A handler that waits is never raced (see ``_hand_over``): awaited to its end.
            return WaitResults([delivery], [outcome if completed else await outcome], False)
        return await super().wait_first(outcome, *coros[1:])

    def _deliver(self, message: Message) -> Awaitable[None]:
        """Faust's callback for every record fetched: a directly handled topic's record to its
        handler, any other to Faust's conductor (and on to its streams)."""
        handler = self._handlers.get(message.topic)
        if handler is None:
            return self._conduct(message)
        return self._hand_over(handler, message)

    async def _hand_over(self, handler: Handler, message: Message) -> None:
        """Run ``handler`` on ``message`` and acknowledge it, as Faust's stream does around an
        agent's step: skipped (and acknowledged) while the flow is stopped or when fetched
        before the last rebalance, as Faust's stream skips it (``Counter.process`` reads any
        record so skipped back from Kafka when it sees the gap); else tracked first (a
        rebalance waits for it) and acknowledged once handled."""
        app = self.app
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            self.ack(message)
            return
        self._handling = True
        self._in_hand.message = message
        _current_event.set(self._in_hand_ref)  # type: ignore[arg-type]  # only .message is read
        if app.topics.acks_enabled_for(message.topic):  # as the stream tracks it
            message.tracked = True
            self._unacked_messages.add(message)
        app.monitor.stream_inbound_time[message.tp] = monotonic()  # Faust's idle-stream check
        try:
            await handler(message)
        except BaseException:
            # Not handled to its end (a crash, or the worker stopping): never acknowledged, so
            # never committed past; what it did is replayed from its offset (idempotently).
            self._unacked_messages.discard(message)
            raise
        finally:
            self._handling = False
        self.ack(message)


_HAND_OVER = InlineDeliveryConsumer._hand_over.__code__


class RawSchema(faust.Schema[bytes, bytes]):
    """The schema of a topic of bytes: a record's key and value, not decoded."""

    def loads_key(self, app: AppT, message: Message, **kwargs: Any) -> Any:
        return message.key

    def loads_value(self, app: AppT, message: Message, **kwargs: Any) -> Any:
        return message.value
