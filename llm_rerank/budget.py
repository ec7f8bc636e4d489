"""Spending limits that hold under concurrency: capacity is reserved before a call starts.

A ``Budget`` caps call attempts, tokens (prompt + completion) and US dollars. Before each
attempt the call path reserves one call and the call's estimated tokens and cost; after it,
the reservation is settled with what was really spent. Reserving is synchronous (no ``await``
between the check and the update), so any number of concurrent calls on one event loop can
never go past a limit together. A budget may have a ``parent`` (a batch's budget shared by
its queries): a reservation must fit both.

With ``store="redis://..."`` and a ``name``, the limits hold across processes and machines:
every budget of that name checks and books its calls in one ledger in the store
(``llm_rerank.stores.ledger``, atomic Lua scripts); the local counters still count what this
object reserved. An unreachable store raises ``StoreUnavailable`` (no call is made).

>>> budget = Budget(max_calls=2)
>>> first, second = budget.reserve(), budget.reserve()
>>> budget.reserve() is None, budget.exhausted
(True, 'max_calls=2')
>>> budget.settle(first, tokens=120, cost_usd=0.0); budget.calls, budget.tokens
(2, 120)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stores.ledger import RedisLedger


@dataclass
class Reservation:
    """What one attempt holds of each budget in its chain until it is settled."""

    tokens: int
    cost_usd: float
    budgets: list[Budget] = field(default_factory=list)


@dataclass
class Budget:
    """Limits on call attempts, tokens and cost; ``None`` means no limit on that measure."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    parent: Budget | None = None
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    exhausted: str | None = None  # the limit that refused a reservation, e.g. "max_calls=5"
    store: str | None = None  # a redis:// URL: the limits hold across processes (see above)
    name: str = "default"  # the shared ledger's name in the store

    def __post_init__(self) -> None:
        self._ledger: RedisLedger | None = None
        if self.store is not None:
            from .stores.ledger import RedisLedger

            self._ledger = RedisLedger(self.store, self.name)

    def _limits(self) -> tuple[int | None, int | None, float | None]:
        return self.max_calls, self.max_tokens, self.max_cost_usd

    def spent(self) -> tuple[int, int, float]:
        """``(calls, tokens, cost_usd)`` booked so far: in the shared ledger with a store
        (every process), else by this budget."""
        if self._ledger is not None:
            return self._ledger.spent()
        return self.calls, self.tokens, self.cost_usd

    def reset(self) -> None:
        """Forget what was spent (the shared ledger too, with a store)."""
        self.calls, self.tokens, self.cost_usd, self.exhausted = 0, 0, 0.0, None
        if self._ledger is not None:
            self._ledger.reset()

    @property
    def limits_spend(self) -> bool:
        """Whether this budget or a parent limits tokens or cost (so estimates are needed)."""
        chain = self._chain()
        return any(b.max_tokens is not None or b.max_cost_usd is not None for b in chain)

    @property
    def limits_cost(self) -> bool:
        """Whether this budget or a parent limits US dollars."""
        return any(b.max_cost_usd is not None for b in self._chain())

    def _chain(self) -> list[Budget]:
        chain: list[Budget] = []
        budget: Budget | None = self
        while budget is not None:
            chain.append(budget)
            budget = budget.parent
        return chain

    def _refusal(self, tokens: int, cost_usd: float) -> str | None:
        if self._ledger is not None:
            return None  # checked in the shared ledger (see reserve)
        if self.max_calls is not None and self.calls + 1 > self.max_calls:
            return f"max_calls={self.max_calls}"
        if self.max_tokens is not None and self.tokens + tokens > self.max_tokens:
            return f"max_tokens={self.max_tokens}"
        if self.max_cost_usd is not None and self.cost_usd + cost_usd > self.max_cost_usd:
            return f"max_cost_usd={self.max_cost_usd}"
        return None

    def reserve(self, tokens: int = 0, cost_usd: float = 0.0) -> Reservation | None:
        """Hold one call and the estimates in this budget and its parents, or return
        ``None`` (holding nothing) when any of them would go past a limit."""
        chain = self._chain()
        for budget in chain:  # local limits first: nothing is booked in a store unless they fit
            if (refusal := budget._refusal(tokens, cost_usd)) is not None:
                self._refuse(budget, refusal)
                return None
        booked: list[RedisLedger] = []
        try:
            for budget in chain:
                if budget._ledger is None:
                    continue
                if (refusal := budget._ledger.reserve(budget._limits(), tokens,
                                                      cost_usd)) is not None:
                    self._give_back(booked, tokens, cost_usd)
                    self._refuse(budget, f"{refusal} of the shared budget {budget.name!r}")
                    return None
                booked.append(budget._ledger)
        except BaseException:
            self._give_back(booked, tokens, cost_usd)
            raise
        for budget in chain:
            budget.calls += 1
            budget.tokens += tokens
            budget.cost_usd += cost_usd
        return Reservation(tokens, cost_usd, chain)

    def _refuse(self, budget: Budget, refusal: str) -> None:
        budget.exhausted = refusal
        if budget is not self:
            self.exhausted = refusal if budget._ledger is not None else f"the batch's {refusal}"

    @staticmethod
    def _give_back(ledgers: list[RedisLedger], tokens: int, cost_usd: float) -> None:
        for ledger in ledgers:
            ledger.adjust(-1, -tokens, -cost_usd)

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Replace a reservation's estimates with what the attempt really spent."""
        for budget in reservation.budgets:
            if budget._ledger is not None and (tokens, cost_usd) != (
                    reservation.tokens, reservation.cost_usd):
                budget._ledger.adjust(0, tokens - reservation.tokens,
                                      cost_usd - reservation.cost_usd)
            budget.tokens += tokens - reservation.tokens
            budget.cost_usd += cost_usd - reservation.cost_usd
        reservation.tokens, reservation.cost_usd = tokens, cost_usd
