"""The publish bodies' checks: channel and batch lists, non-empty and within the app's limits."""

from __future__ import annotations

import pytest

from tidings.apps.base import App
from tidings.errors import LimitError, TidingsError
from tidings.http.pusher_api import batch_publications, event_publications
from tidings.typing import AppId, AppKey

APP = App(id=AppId("1"), key=AppKey("k"), secret="s", max_channels_per_event=2, max_batch_size=2)
EVENT = {"name": "e", "data": "{}"}


def test_channels_must_be_a_non_empty_list_within_the_limit() -> None:
    """Too many channels is a 400 LimitError that says how many and how to split."""
    assert len(event_publications(APP, {**EVENT, "channels": ["a", "b"]})) == 2
    with pytest.raises(TidingsError, match='"channels" must be a non-empty list') as empty:
        event_publications(APP, {**EVENT, "channels": []})
    assert empty.value.hint == 'e.g. "channels": ["my-channel"]'
    with pytest.raises(LimitError) as over:
        event_publications(APP, {**EVENT, "channels": ["a", "b", "c"]})
    assert (over.value.message, over.value.hint, over.value.http_status) == (
        "3 channels in one event; the limit is 2",
        "split the publish into several requests",
        400,
    )


def test_a_batch_must_be_a_non_empty_list_within_the_limit() -> None:
    """An empty batch names the expected shape; too many events is a 400 LimitError."""
    one = {**EVENT, "channel": "a"}
    assert len(batch_publications(APP, {"batch": [one, one]})) == 2
    with pytest.raises(TidingsError, match='"batch" must be a non-empty list of events'):
        batch_publications(APP, {"batch": []})
    with pytest.raises(LimitError) as over:
        batch_publications(APP, {"batch": [one, one, one]})
    assert (over.value.message, over.value.hint, over.value.http_status) == (
        "3 events in one batch; the limit is 2",
        "split the batch into several requests",
        400,
    )
