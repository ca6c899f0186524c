import pytest

from sessionflow import sessionids
from sessionflow.errors import ExpiredSession, UnknownSession

NOW = 1_731_672_000_000
DAY = 24 * 3600 * 1000


def test_minted_id_is_64_lowercase_hex_and_verifies():
    sid = sessionids.mint("s1", NOW)
    assert len(sid) == 64 and sid == sid.lower() and int(sid, 16) >= 0
    assert sessionids.verify(sid, ["s1"], NOW + 1000, DAY) == NOW


def test_ids_are_unique():
    assert len({sessionids.mint("s1", NOW) for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    "sid",
    [
        "",
        "xyz",
        "0" * 64,
        "A" * 64,
        "g" * 64,
        "0" * 63,
        "0" * 65,
    ],
)
def test_malformed_or_forged_ids_are_unknown(sid):
    with pytest.raises(UnknownSession):
        sessionids.verify(sid, ["s1"], NOW, DAY)


def test_tampered_id_is_unknown():
    sid = sessionids.mint("s1", NOW)
    flipped = sid[:20] + ("0" if sid[20] != "0" else "1") + sid[21:]
    with pytest.raises(UnknownSession):
        sessionids.verify(flipped, ["s1"], NOW, DAY)


def test_other_secret_is_unknown_and_rotation_accepts_old_and_new():
    old = sessionids.mint("old", NOW)
    new = sessionids.mint("new", NOW)
    with pytest.raises(UnknownSession):
        sessionids.verify(old, ["new"], NOW, DAY)
    assert sessionids.verify(old, ["new", "old"], NOW, DAY) == NOW
    assert sessionids.verify(new, ["new", "old"], NOW, DAY) == NOW


def test_expired_after_lifetime():
    sid = sessionids.mint("s1", NOW)
    assert sessionids.verify(sid, ["s1"], NOW + DAY, DAY) == NOW
    with pytest.raises(ExpiredSession):
        sessionids.verify(sid, ["s1"], NOW + DAY + 1, DAY)


def test_id_from_the_future_is_unknown():
    sid = sessionids.mint("s1", NOW + 10 * 60_000)
    with pytest.raises(UnknownSession):
        sessionids.verify(sid, ["s1"], NOW, DAY)


def test_the_verifier_remembers_at_most_its_size_and_still_refuses_forgeries():
    verifier = sessionids.Verifier(["s1"], cached=1000)
    sids = [sessionids.mint("s1", NOW + n) for n in range(1500)]
    for n, sid in enumerate(sids):
        assert verifier.verify(sid, NOW + 2000, DAY) == NOW + n
    assert verifier.cached() == 1000  # the oldest 500 were forgotten, not kept growing
    assert verifier.verify(sids[0], NOW + 2000, DAY) == NOW  # looked up again: still valid
    forged = sessionids.mint("other", NOW)
    for _ in range(2):  # a refusal is remembered as one too
        with pytest.raises(UnknownSession):
            verifier.verify(forged, NOW, DAY)
    with pytest.raises(ExpiredSession):  # the lifetime is checked whether remembered or not
        verifier.verify(sids[1], NOW + DAY + 2, DAY)
