"""``GET .../Calls.json``: Twilio's filters and its page keys, as a pure function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from callstream.callstatus import REST_STATUSES
from callstream.digits import ascii_count
from emulator import errors
from emulator.calls import Call, call_json
from emulator.timefmt import parse_list_date

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
FILTERS = ("To", "From", "ParentCallSid", "Status")
DATE_FILTERS = ("StartTime", "StartTime<", "StartTime>", "EndTime", "EndTime<", "EndTime>")


def _date_test(op: str, bound: datetime | date) -> Callable[[float | None], bool]:
    def test(ts: float | None) -> bool:
        if ts is None:
            return False
        when = datetime.fromtimestamp(ts, UTC)
        value: datetime | date = when if isinstance(bound, datetime) else when.date()
        if op == "<":
            return value <= bound
        if op == ">":
            return value >= bound
        return value == bound

    return test


def _equals(attr: str, want: str) -> Callable[[Call], bool]:
    return lambda c: bool(getattr(c, attr) == want)


def _on_date(attr: str, test: Callable[[float | None], bool]) -> Callable[[Call], bool]:
    return lambda c: test(getattr(c, attr))


def paging(q: Mapping[str, str]) -> tuple[int, int]:
    """``PageSize`` and ``Page`` of a list request (ASCII digits, bounded), else 400."""
    size = ascii_count(q.get("PageSize") or str(DEFAULT_PAGE_SIZE))
    page = ascii_count(q.get("Page") or "0")
    if size is None or page is None:
        raise errors.bad_request("PageSize and Page must be whole numbers (digits 0-9)")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise errors.bad_request(f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
    return size, page


def list_page(
    calls: Sequence[Call], query: Sequence[tuple[str, str]], path: str
) -> dict[str, object]:
    """One page of ``calls`` (newest first) for the query; raises TwilioError on bad input."""
    q = dict(query)
    tests: list[Callable[[Call], bool]] = []
    for name, attr in (("To", "to"), ("From", "from_"), ("ParentCallSid", "parent_call_sid")):
        if q.get(name):
            tests.append(_equals(attr, q[name]))
    if q.get("Status"):
        status = q["Status"]
        if status not in REST_STATUSES:
            raise errors.bad_request(f"Status must be one of {', '.join(REST_STATUSES)}")
        tests.append(lambda c: c.status == status)
    for name in DATE_FILTERS:
        if q.get(name):
            try:
                bound = parse_list_date(q[name])
            except ValueError:
                raise errors.bad_request(f"{name} must be a date YYYY-MM-DD") from None
            op = name[-1] if name[-1] in "<>" else "="
            attr = "start_time" if name.startswith("Start") else "end_time"
            tests.append(_on_date(attr, _date_test(op, bound)))
    size, page = paging(q)

    matching = [c for c in reversed(calls) if all(t(c) for t in tests)]
    token = q.get("PageToken") or ""
    start = 0
    if token.startswith("PA"):
        after = token[2:]
        idx = next((i for i, c in enumerate(matching) if c.sid == after), None)
        start = idx + 1 if idx is not None else len(matching)
    elif page:
        start = page * size
    chunk = matching[start : start + size]

    kept = [(k, v) for k, v in query if k in FILTERS + DATE_FILTERS and v]

    def uri(page_no: int, page_token: str | None) -> str:
        params = [*kept, ("PageSize", str(size)), ("Page", str(page_no))]
        if page_token:
            params.append(("PageToken", page_token))
        return f"{path}?{urlencode(params)}"

    has_next = start + size < len(matching)
    return {
        "calls": [call_json(c) for c in chunk],
        "end": start + len(chunk) - 1 if chunk else start,
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, "PA" + chunk[-1].sid) if has_next and chunk else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1, None) if page > 0 else None,
        "start": start,
        "uri": uri(page, token or None),
    }
