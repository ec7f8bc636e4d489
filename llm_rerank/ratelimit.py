"""Requests and tokens per minute of one model, waited for before each call attempt.

``max_rpm`` spaces call starts evenly (600 a minute: one every 100 ms); ``max_tpm`` spaces
them by their estimated tokens (prompt + answer cap), corrected by what each call really
used. Each limit is a GCRA ("virtual scheduling") clock: a call books the next free start
time and sleeps until it, so callers never poll and never burst past the rate. Without a
store the clock is shared by every client of that model in the process; with
``store="redis://..."`` it lives in Redis (one Lua script per call, on Redis' clock), so every
process and machine naming the same model and store shares the rate. A provider's 429 with
``Retry-After`` pushes the clock back for everyone sharing it. A store that fails falls
back to the process's own clock (one warning per outage) until it answers again.

>>> limit = RateLimit("openai/doctest-model", max_rpm=600)
>>> [round(limit.schedule(), 1) for _ in range(3)]
[0.0, 0.1, 0.2]
"""

from __future__ import annotations

import logging
import threading
import time

from .errors import InvalidInput

log = logging.getLogger("llm_rerank.ratelimit")
PREFIX = "llm_rerank:rate:"
MICRO = 1_000_000

# KEYS: the clocks (rpm, tpm); ARGV[i]: microseconds this call adds to clock i, ARGV[#KEYS+1]:
# microseconds to push every clock past now (a Retry-After). Returns microseconds to wait.
SCHEDULE = """
local function keep(key, tat, now)
  redis.call('SET', key, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 60000)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local start = now
local floor = now + tonumber(ARGV[#KEYS + 1])
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > start then start = tat end
end
if floor > now then
  for i = 1, #KEYS do
    keep(KEYS[i], math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), floor), now)
  end
  return 0
end
for i = 1, #KEYS do
  keep(KEYS[i], start + tonumber(ARGV[i]), now)
end
return string.format('%.0f', start - now)
"""
# KEYS[1]: a clock; ARGV[1]: microseconds to add (negative: give back). Only a live clock moves.
ADJUST = """
local tat = redis.call('GET', KEYS[1])
if tat then
  redis.call('SET', KEYS[1], string.format('%.0f', tonumber(tat) + tonumber(ARGV[1])), 'KEEPTTL')
end
return 0
"""

_clocks: dict[str, float] = {}  # the process's clocks (time.monotonic() seconds), by key
_lock = threading.Lock()


class RateLimit:
    """``max_rpm`` / ``max_tpm`` of ``model``, local or shared through ``store``."""

    def __init__(self, model: str, *, max_rpm: int | None = None, max_tpm: int | None = None,
                 store: str | None = None) -> None:
        for name, value in (("max_rpm", max_rpm), ("max_tpm", max_tpm)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise InvalidInput(f"{name} must be an int >= 1, got {value!r}")
        self.model, self.max_rpm, self.max_tpm, self.store = model, max_rpm, max_tpm, store
        self._store_down = False

    @property
    def counts_tokens(self) -> bool:
        return self.max_tpm is not None

    def _costs(self, tokens: int) -> list[tuple[str, float]]:
        """(clock key, seconds this call adds to it) for each limit."""
        costs = []
        if self.max_rpm is not None:
            costs.append((f"{PREFIX}{self.model}:rpm", 60.0 / self.max_rpm))
        if self.max_tpm is not None:
            costs.append((f"{PREFIX}{self.model}:tpm", 60.0 * max(tokens, 1) / self.max_tpm))
        return costs

    def schedule(self, tokens: int = 0) -> float:
        """Book the next start time for a call of ``tokens`` estimated tokens; the seconds
        to wait before starting it."""
        costs = self._costs(tokens)
        if self.store is not None:
            waited = self._shared(costs, 0.0)
            if waited is not None:
                return waited
        with _lock:
            now = time.monotonic()
            start = max([now, *(_clocks.get(key, now) for key, _ in costs)])
            for key, seconds in costs:
                _clocks[key] = start + seconds
            return start - now

    def defer(self, seconds: float) -> None:
        """No call starts for ``seconds`` (a provider's ``Retry-After``)."""
        costs = self._costs(0)
        if self.store is not None and self._shared(costs, seconds) is not None:
            return
        with _lock:
            floor = time.monotonic() + seconds
            for key, _ in costs:
                _clocks[key] = max(_clocks.get(key, floor), floor)

    def adjust(self, estimated: int, used: int) -> None:
        """Correct the token clock once a call's real tokens are known."""
        if self.max_tpm is None or used == estimated:
            return
        key, seconds = f"{PREFIX}{self.model}:tpm", 60.0 * (used - max(estimated, 1)) / self.max_tpm
        if self.store is not None:
            from .stores.connection import client, redis_errors, run_script

            try:
                run_script(client(self.store), ADJUST, [key], [round(seconds * MICRO)])
                return
            except redis_errors():
                pass  # the local clock below is corrected instead
        with _lock:
            if key in _clocks:
                _clocks[key] += seconds

    def _shared(self, costs: list[tuple[str, float]], defer_s: float) -> float | None:
        """Book in the store; ``None`` when it failed (the caller uses the local clock)."""
        from .stores.connection import client, redis_errors, run_script, safe_url

        assert self.store is not None
        try:
            waited = run_script(client(self.store), SCHEDULE, [key for key, _ in costs],
                                [*(round(s * MICRO) for _, s in costs), round(defer_s * MICRO)])
        except redis_errors() as exc:
            if not self._store_down:
                self._store_down = True
                log.warning("the rate-limit store %s failed (%s); %s waits for its limits in "
                            "this process only until it is back", safe_url(self.store), exc,
                            self.model)
            return None
        if self._store_down:
            self._store_down = False
            log.warning("the rate-limit store %s is back", safe_url(self.store))
        return int(waited) / MICRO
