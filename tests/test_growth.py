import pytest

from audiogan.gan.growth import GrowthSchedule


def test_growth_schedule_every_boundary():
    s = GrowthSchedule(start_depth=4, max_depth=8, grow_by=2, stable_steps=10, fade_steps=4)
    assert s.n_stages == 2
    assert s(0) == (4, 1.0) and s(9) == (4, 1.0)
    assert s(10) == (6, 0.0)  # new blocks enter at alpha 0
    assert s(11) == (6, 0.25) and s(13) == (6, 0.75)
    assert s(14) == (6, 1.0) and s(23) == (6, 1.0)
    assert s(24) == (8, 0.0) and s(26) == (8, 0.5)
    assert s(28) == (8, 1.0) == s(10_000)
    assert s.total_steps == 28
    assert s.fade_blocks(11) == 2


def test_growth_schedule_uneven_last_stage_and_no_fade():
    s = GrowthSchedule(start_depth=1, max_depth=4, grow_by=2, stable_steps=5, fade_steps=0)
    assert [s(t) for t in (0, 4, 5, 9, 10, 99)] == [(1, 1.0), (1, 1.0), (3, 1.0), (3, 1.0), (4, 1.0), (4, 1.0)]
    assert s.fade_blocks(10) == 1  # the last stage adds one block, not grow_by


def test_growth_schedule_full_depth_from_start():
    s = GrowthSchedule(start_depth=3, max_depth=3)
    assert s.n_stages == 0 and s.total_steps == 0 and s(0) == s(5000) == (3, 1.0)


@pytest.mark.parametrize("kw", [dict(start_depth=0, max_depth=2), dict(start_depth=3, max_depth=2),
                                dict(start_depth=1, max_depth=2, grow_by=0)])
def test_growth_schedule_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        GrowthSchedule(**kw)
