"""Load profiles, request sizes and arrivals: the shapes a person asks for, reproducible by seed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from planner_tui.sim.profiles import (
    ArrivalSchedule,
    ConstantProfile,
    ProfileError,
    ReplayProfile,
    SineProfile,
    TokenDistribution,
    Workload,
    load_trace,
    parse_steps_text,
    parse_workload,
)


def arrivals(workload: Workload, seed: int, until: float, start: float = 0.0) -> list[tuple[float, int, int]]:
    schedule = ArrivalSchedule(workload, random.Random(seed), start=start)
    out = []
    while True:
        at, arrival = schedule.next_event()
        if at > until:
            return out
        if arrival is not None:
            out.append((round(arrival.at, 9), arrival.input_tokens, arrival.output_tokens))


def test_profile_shapes() -> None:
    sine = parse_workload({"kind": "sine", "min_rps": 2, "max_rps": 18, "period_s": 180}).profile
    assert sine.rate(0) == pytest.approx(2)
    assert sine.rate(90) == pytest.approx(18)
    assert sine.rate(180) == pytest.approx(2)
    step = parse_workload({"kind": "step", "steps": [[0, 2], [60, 12], [120, 3]], "period_s": 180}).profile
    assert [step.rate(t) for t in (0, 59, 60, 130, 185)] == [2, 2, 12, 3, 2]
    burst = parse_workload({"kind": "burst", "base_rps": 1, "burst_rps": 10, "every_s": 60, "duration_s": 10}).profile
    assert [burst.rate(t) for t in (0, 49, 50, 59, 61)] == [1, 1, 10, 10, 1]
    assert parse_workload({"kind": "constant", "rps": 7}).profile.rate(1e6) == 7


def test_same_seed_same_arrivals_and_poisson_rate() -> None:
    workload = Workload(ConstantProfile(10.0))
    first = arrivals(workload, seed=3, until=500)
    assert first == arrivals(workload, seed=3, until=500)
    assert first != arrivals(workload, seed=4, until=500)
    assert len(first) / 500 == pytest.approx(10.0, rel=0.05)


def test_sine_arrivals_follow_the_wave() -> None:
    workload = Workload(SineProfile(1.0, 20.0, 100.0))
    times = [a[0] for a in arrivals(workload, seed=1, until=100)]
    trough = sum(1 for t in times if t < 10 or t > 90)
    peak = sum(1 for t in times if 45 <= t < 55)
    assert peak > 5 * trough / 2  # 10 s at ~20 rps vs 20 s at ~1-3 rps


def test_zero_rate_generates_nothing_but_keeps_looking() -> None:
    schedule = ArrivalSchedule(Workload(ConstantProfile(0.0)), random.Random(0), start=5.0)
    events = [schedule.next_event() for _ in range(3)]
    assert [e[1] for e in events] == [None, None, None]
    assert [e[0] for e in events] == [6.0, 7.0, 8.0]


def test_scaling_multiplies_the_rate_and_keeps_the_shape() -> None:
    workload = parse_workload({"kind": "sine", "min_rps": 2, "max_rps": 10, "period_s": 60}).scaled(1.5)
    assert workload.to_dict()["min_rps"] == 3 and workload.to_dict()["max_rps"] == 15
    with pytest.raises(ProfileError, match="scale factor"):
        workload.scaled(-1)


def test_token_distributions_stay_in_bounds_and_have_their_mean() -> None:
    rng = random.Random(0)
    normal = TokenDistribution("normal", 512, 128, 16, 1024)
    samples = [normal.sample(rng) for _ in range(5000)]
    assert min(samples) >= 16 and max(samples) <= 1024
    assert sum(samples) / len(samples) == pytest.approx(512, rel=0.03)
    lognormal = TokenDistribution("lognormal", 200, 100, 1, 100000)
    assert sum(lognormal.sample(rng) for _ in range(5000)) / 5000 == pytest.approx(200, rel=0.05)
    uniform = TokenDistribution("uniform", 1, 0, 10, 20)
    assert {uniform.sample(rng) for _ in range(500)} == set(range(10, 21))
    assert TokenDistribution("constant", 77).sample(rng) == 77


def test_workload_json_round_trip_keeps_sizes_when_only_the_shape_changes() -> None:
    workload = parse_workload(
        {"kind": "constant", "rps": 4, "isl": {"dist": "normal", "mean": 300, "std": 20}, "osl": 64}
    )
    # bounds not given keep the defaults
    assert workload.isl == TokenDistribution("normal", 300, 20, 16, 4096)
    assert workload.osl == TokenDistribution("constant", 64, 0, 4, 1024)
    again = parse_workload(workload.to_dict())
    assert again == workload
    changed = parse_workload({"kind": "constant", "rps": 9}, current=workload)
    assert (changed.isl, changed.osl) == (workload.isl, workload.osl)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "wave"}, "'kind' must be one of constant, sine, step, burst, replay, got 'wave'"),
        ({"kind": "constant"}, "missing 'rps'"),
        ({"kind": "constant", "rps": -1}, "'rps' must be >= 0, got -1"),
        ({"kind": "constant", "rps": "ten"}, "'rps' must be a number, got 'ten'"),
        ({"kind": "constant", "rps": 1, "rsp": 2}, "unknown key 'rsp' for a 'constant' profile; known keys:"),
        ({"kind": "sine", "min_rps": 5, "max_rps": 3, "period_s": 60}, "'max_rps' (3) must be >= 'min_rps' (5)"),
        ({"kind": "sine", "min_rps": 1, "max_rps": 3, "period_s": 0}, "'period_s' must be > 0"),
        ({"kind": "step", "steps": [[60, 1], [0, 2]]}, "increasing at_s order"),
        ({"kind": "step", "steps": [[0]]}, "each step must be [at_s, rps]"),
        ({"kind": "burst", "base_rps": 1, "burst_rps": 9, "every_s": 10, "duration_s": 20}, "'duration_s' (20)"),
        ({"kind": "replay"}, "needs 'path'"),
        ({"kind": "constant", "rps": 1, "isl": {"dist": "zipf"}}, "isl.dist must be one of"),
        (
            {"kind": "constant", "rps": 1, "osl": {"mean": 10, "min": 20, "max": 5}},
            "osl: 'min' (20) must be <= 'max' (5)",
        ),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_profiles_are_refused_with_the_key_and_the_fix(data: object, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_workload(data)
    assert message in str(info.value)


def test_steps_text() -> None:
    assert parse_steps_text("0:2, 60:12") == [[0.0, 2.0], [60.0, 12.0]]
    with pytest.raises(ProfileError, match="AT_S:RPS"):
        parse_steps_text("0-2")


def write_trace(path: Path) -> Path:
    path.write_text("timestamp,input_tokens,output_tokens\n100.5,300,20\n100.0,200,10\n102.0,400,30\n")
    return path


def test_replay_follows_the_trace_faster_with_rate_scale_and_loops(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "trace.csv")
    rows = load_trace(trace)
    assert [(r.timestamp, r.input_tokens) for r in rows] == [(0.0, 200), (0.5, 300), (2.0, 400)]
    workload = parse_workload({"kind": "replay", "path": str(trace), "rate_scale": 2})
    assert isinstance(workload.profile, ReplayProfile)
    got = arrivals(workload, seed=0, until=3.5)
    # one pass lasts 2 s + one mean gap (1 s) = 3 s of trace, 1.5 s at rate_scale 2
    assert got == [
        (0.0, 200, 10),
        (0.25, 300, 20),
        (1.0, 400, 30),
        (1.5, 200, 10),
        (1.75, 300, 20),
        (2.5, 400, 30),
        (3.0, 200, 10),
        (3.25, 300, 20),
    ]
    once = parse_workload({"kind": "replay", "path": str(trace), "loop": False})
    assert len(arrivals(once, seed=0, until=100)) == 3


def test_replay_resumes_mid_trace_when_rescaled(tmp_path: Path) -> None:
    workload = parse_workload({"kind": "replay", "path": str(write_trace(tmp_path / "t.csv"))})
    schedule = ArrivalSchedule(workload, random.Random(0), start=10.6, origin=10.0)
    assert schedule.next_event()[0] == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,1\n1,2\n", "line 1: expected timestamp,input_tokens,output_tokens"),
        ("0,1,1\nx,y,z\n", "line 2: not numbers"),
        ("0,0,5\n", "token counts must be >= 1"),
        ("timestamp,input_tokens,output_tokens\n", "has no requests"),
    ],
)
def test_bad_traces_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    trace = tmp_path / "bad.csv"
    trace.write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_trace(trace)


def test_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read trace"):
        parse_workload({"kind": "replay", "path": str(tmp_path / "nope.csv")})
