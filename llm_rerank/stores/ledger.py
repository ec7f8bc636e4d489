"""A budget's shared ledger in Redis: calls, tokens and dollars spent under one name.

The hash ``llm_rerank:budget:NAME`` holds ``calls``, ``tokens`` and ``cost_usd``. A
reservation is one Lua script: it checks every limit against the ledger and adds the call
and its estimates only if all fit, so processes on any number of machines never go past a
limit together (by more than one call's estimate, when the estimate was low). A settlement
adds what the call really spent minus its estimate. The ledger lives until it is reset
(``Budget.reset()`` or ``redis-cli DEL llm_rerank:budget:NAME``).

A store that cannot be reached fails closed: ``reserve`` raises ``StoreUnavailable`` naming
the store and the budget, so no call is made without the ledger. A settlement that cannot
be written is kept and added to the next reservation that reaches the store.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..errors import StoreUnavailable
from .connection import client, redis_errors, run_script, safe_url

log = logging.getLogger("llm_rerank.budget")
PREFIX = "llm_rerank:budget:"
LIMIT_NAMES = ("max_calls", "max_tokens", "max_cost_usd")

# KEYS[1] the ledger; ARGV: max_calls, max_tokens, max_cost_usd ('' for no limit), the call's
# tokens and cost, then unsettled tokens and cost to add first. Returns the refusing limit's
# position (1-3) or 0 after holding the call.
RESERVE = """
if ARGV[6] ~= '0' then redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[6]) end
if ARGV[7] ~= '0' then redis.call('HINCRBYFLOAT', KEYS[1], 'cost_usd', ARGV[7]) end
local spent = redis.call('HMGET', KEYS[1], 'calls', 'tokens', 'cost_usd')
local adds = {1, tonumber(ARGV[4]), tonumber(ARGV[5])}
for i = 1, 3 do
  if ARGV[i] ~= '' and tonumber(spent[i] or '0') + adds[i] > tonumber(ARGV[i]) then
    return i
  end
end
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[4])
redis.call('HINCRBYFLOAT', KEYS[1], 'cost_usd', ARGV[5])
return 0
"""
# KEYS[1] the ledger; ARGV: calls, tokens and cost to add (negative to give back).
ADJUST = """
redis.call('HINCRBY', KEYS[1], 'calls', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[2])
redis.call('HINCRBYFLOAT', KEYS[1], 'cost_usd', ARGV[3])
return 0
"""


def _limit(value: float | None) -> str:
    return "" if value is None else repr(value)


class RedisLedger:
    """The shared ledger of the budget ``name`` in the store at ``url``."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.key = PREFIX + name
        self._unsettled = (0, 0.0)
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return RedisLedger, (self.url, self.name)

    def _unavailable(self, exc: BaseException, doing: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"the budget store {safe_url(self.url)} (budget {self.name!r}) cannot be reached "
            f"({type(exc).__name__}: {exc}); {doing}: a shared budget spends nothing without "
            "its ledger")

    def reserve(self, limits: tuple[int | None, int | None, float | None], tokens: int,
                cost_usd: float) -> str | None:
        """Hold one call and its estimates, or return the refusing limit (``"max_calls=40"``)."""
        with self._lock:
            pending, self._unsettled = self._unsettled, (0, 0.0)
        try:
            refused = int(run_script(client(self.url), RESERVE, [self.key],
                                     [*map(_limit, limits), tokens, repr(cost_usd),
                                      pending[0], repr(pending[1])]))
        except redis_errors() as exc:
            self._keep(*pending)
            raise self._unavailable(exc, "no call was made") from None
        if refused:
            return f"{LIMIT_NAMES[refused - 1]}={limits[refused - 1]}"
        return None

    def adjust(self, calls: int, tokens: int, cost_usd: float) -> None:
        """Add to the ledger (a settlement, or a reservation given back); kept for the next
        reservation when the store cannot be reached."""
        try:
            run_script(client(self.url), ADJUST, [self.key], [calls, tokens, repr(cost_usd)])
        except redis_errors() as exc:
            log.warning("budget %r: the store %s failed while settling a call (%s); the "
                        "amount is added at the next reservation", self.name,
                        safe_url(self.url), exc)
            self._keep(tokens, cost_usd)

    def _keep(self, tokens: int, cost_usd: float) -> None:
        with self._lock:
            self._unsettled = (self._unsettled[0] + tokens, self._unsettled[1] + cost_usd)

    def spent(self) -> tuple[int, int, float]:
        """``(calls, tokens, cost_usd)`` in the ledger, across every process."""
        try:
            values = client(self.url).hmget(self.key, "calls", "tokens", "cost_usd")
        except redis_errors() as exc:
            raise self._unavailable(exc, "its spend cannot be read") from None
        calls, tokens, cost = (v or b"0" for v in values)
        return int(calls), int(tokens), float(cost)

    def reset(self) -> None:
        """Forget everything spent under this name."""
        try:
            client(self.url).delete(self.key)
        except redis_errors() as exc:
            raise self._unavailable(exc, "it cannot be reset") from None
