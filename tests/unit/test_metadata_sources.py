"""Which IdP metadata source sightings wake the configs reading them (in memory, no write)."""

from __future__ import annotations

from ddmsp.controllers.metadata_sources import SOURCE_LABEL, SourceVersions, polled_by_name

IDP = ("Secret", "ns", "idp")


def test_first_sight_wakes_nobody_a_change_does_once() -> None:
    seen = SourceVersions()
    assert not seen.changed(IDP, "7")  # the configs' own passes read it
    assert not seen.changed(IDP, "7")
    assert seen.changed(IDP, "8")
    assert not seen.changed(IDP, "8")


def test_deletion_and_recreation_are_changes() -> None:
    seen = SourceVersions()
    seen.changed(IDP, "3")
    assert seen.changed(IDP, None)
    assert not seen.changed(IDP, None)
    assert seen.changed(IDP, "9")


def test_a_forgotten_source_is_first_seen_again() -> None:
    seen = SourceVersions()
    seen.changed(IDP, "3")
    seen.forget(IDP)
    assert not seen.changed(IDP, "4")
    assert seen.changed(("ConfigMap", "ns", "idp"), "1") is False  # another kind, own entry


def test_labelled_source_is_left_to_the_watch() -> None:
    assert not polled_by_name({SOURCE_LABEL: "true"})
    assert polled_by_name({})
    assert polled_by_name(None)  # deleted: the poll is what notices it
