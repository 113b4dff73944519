"""Which IdP metadata source changes the poller stamps (labelled ones are the watch's)."""

from __future__ import annotations

from ddmsp.controllers.metadata_sources import SOURCE_LABEL, poll_verdict, stamp


def test_unlabelled_source_change_is_stamped() -> None:
    assert poll_verdict({}, True, "42", "Secret", "idp", "Secret/idp@41") == "Secret/idp@42"


def test_first_sight_is_stamped_and_unchanged_is_not() -> None:
    assert poll_verdict({}, True, "7", "ConfigMap", "idp", None) == "ConfigMap/idp@7"
    assert poll_verdict({}, True, "7", "ConfigMap", "idp", "ConfigMap/idp@7") is None


def test_labelled_source_is_left_to_the_watch() -> None:
    assert poll_verdict({SOURCE_LABEL: "true"}, True, "9", "Secret", "idp", None) is None


def test_deleted_source_is_stamped_once() -> None:
    assert poll_verdict(None, False, None, "Secret", "idp", "Secret/idp@3") == \
        "Secret/idp@deleted"
    assert poll_verdict(None, False, None, "Secret", "idp", stamp("Secret", "idp", None)) is None
