"""Spending limits that hold under concurrency: capacity is reserved before a call starts.

A ``Budget`` caps call attempts, tokens (prompt + completion) and US dollars. Before each
attempt the call path reserves one call and the call's estimated tokens and cost; after it,
the reservation is settled with what was really spent. Reserving is synchronous (no ``await``
between the check and the update), so any number of concurrent calls on one event loop can
never go past a limit together. A budget may have a ``parent`` (a batch's budget shared by
its queries): a reservation must fit both.

>>> budget = Budget(max_calls=2)
>>> first, second = budget.reserve(), budget.reserve()
>>> budget.reserve() is None, budget.exhausted
(True, 'max_calls=2')
>>> budget.settle(first, tokens=120, cost_usd=0.0); budget.calls, budget.tokens
(2, 120)
"""

from __future__ import annotations

from dataclasses import dataclass, field


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

    @property
    def limits_spend(self) -> bool:
        """Whether this budget or a parent limits tokens or cost (so estimates are needed)."""
        chain = self._chain()
        return any(b.max_tokens is not None or b.max_cost_usd is not None for b in chain)

    def _chain(self) -> list[Budget]:
        chain: list[Budget] = []
        budget: Budget | None = self
        while budget is not None:
            chain.append(budget)
            budget = budget.parent
        return chain

    def _refusal(self, tokens: int, cost_usd: float) -> str | None:
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
        for budget in chain:
            if (refusal := budget._refusal(tokens, cost_usd)) is not None:
                budget.exhausted = refusal
                if budget is not self:
                    self.exhausted = f"the batch's {refusal}"
                return None
        for budget in chain:
            budget.calls += 1
            budget.tokens += tokens
            budget.cost_usd += cost_usd
        return Reservation(tokens, cost_usd, chain)

    def settle(self, reservation: Reservation, tokens: int, cost_usd: float) -> None:
        """Replace a reservation's estimates with what the attempt really spent."""
        for budget in reservation.budgets:
            budget.tokens += tokens - reservation.tokens
            budget.cost_usd += cost_usd - reservation.cost_usd
        reservation.tokens, reservation.cost_usd = tokens, cost_usd
