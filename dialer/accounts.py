"""The dialer's view of the accounts it places calls for: each account's spacing (its own
``cps`` from the accounts file, else CALLSTREAM_CPS) and the lookup of an account it does
not know, run in a thread so that the loop keeps serving the other accounts."""

from __future__ import annotations

from callstream.subaccounts import AccountBook
from dialer.pacing import Spacing
from dialer.partitions import Head
from dialer.ports import Clock

LOOKUP_POLL_S = 0.1  # how often a request waits to see whether its account was found


class DialerAccounts:
    def __init__(
        self,
        book: AccountBook,
        default_cps: float,
        clock: Clock,
        margin_s: float | None = None,
        causal: bool = True,
    ) -> None:
        self.book = book
        self.default_cps = default_cps
        self.clock = clock
        self.margin_s = margin_s
        self.causal = causal
        self._spacings: dict[float, Spacing] = {}

    def spacing(self, account_sid: str) -> Spacing:
        """The account's own spacing (one :class:`Spacing` per distinct cps)."""
        acct = self.book.get(account_sid)
        cps = self.default_cps if acct is None else acct.cps_or(self.default_cps)
        spacing = self._spacings.get(cps)
        if spacing is None:
            spacing = self._spacings[cps] = Spacing.for_cps(cps, self.margin_s, self.causal)
        return spacing

    def looked_up(self, head: Head) -> bool:
        """Whether the unknown account of ``head`` was looked up (at most one listing of
        subaccounts per interval, in a thread of its own); until then the head waits."""
        assert head.request is not None
        if head.account_lookup is None:
            head.account_lookup = self.book.lookup_in_background(head.request.account_sid)
        if head.account_lookup.is_set():
            return True
        head.not_before = self.clock.monotonic() + LOOKUP_POLL_S
        return False
