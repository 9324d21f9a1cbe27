"""Replica logs: tail from the end, merge by time with replica prefixes, follow across rotations."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

from planner_tui.connectors.local import logs
from planner_tui.model.logs import LogLine
from tests.connectors.local.conftest import eventually, make_graph, replica_args, worker


def write_lines(path: Path, start: int, count: int, t0: float = 1000.0) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for i in range(start, start + count):
            handle.write(f"{t0 + i:.6f} line {i}\n")


def test_tail_reads_the_last_lines_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    write_lines(path, 0, 50_000)
    assert [r.decode() for r in logs.tail_lines(path, 3)] == [
        "50997.000000 line 49997",
        "50998.000000 line 49998",
        "50999.000000 line 49999",
    ]
    assert len(logs.tail_lines(path, 100_000)) == 50_000
    assert logs.tail_lines(tmp_path / "missing.log", 5) == []
    path.write_bytes(b"1.0 a\n2.0 b\n3.0 unterminated")
    assert logs.tail_lines(path, 2) == [b"2.0 b", b"3.0 unterminated"]


def test_tail_continues_into_rotated_files_and_merges_replicas_by_time(tmp_path: Path) -> None:
    current = tmp_path / "w_0.out.log"
    write_lines(current.with_name("w_0.out.log.1"), 0, 5)  # older lines, rotated away
    write_lines(current, 5, 2)
    other = tmp_path / "w_1.err.log"
    other.write_text("1002.500000 from the other replica\nno stamp here\n")
    sources = [
        logs.LogSource("decode", "decode-0", "stdout", current, backups=2),
        logs.LogSource("decode", "decode-1", "stderr", other, backups=2),
    ]

    merged = logs.merged_tail(sources, 6)

    assert [line.format() for line in merged] == [
        "[decode-1] from the other replica",
        "[decode-0] line 3",  # from the rotated file
        "[decode-0] line 4",
        "[decode-0] line 5",
        "[decode-0] line 6",
        "[decode-1] no stamp here",  # no timestamp: the file's modification time
    ]
    assert merged[0].stream == "stderr" and merged[0].timestamp == 1002.5


async def test_follow_reads_across_a_rotation_without_losing_lines(tmp_path: Path) -> None:
    path = tmp_path / "w_0.out.log"
    write_lines(path, 0, 3)
    source = logs.LogSource("decode", "decode-0", "stdout", path)
    stream = logs.follow_sources(lambda: [source], poll_s=0.02)
    got: list[str] = []

    async def collect(n: int) -> None:
        async for line in stream:
            got.append(line.text)
            if len(got) >= n:
                return

    task = asyncio.create_task(collect(6))
    await asyncio.sleep(0.1)  # the follower starts at the end: lines 0-2 are history
    write_lines(path, 3, 2)
    await eventually(lambda: len(got) >= 2, timeout=10, what="appended lines")
    write_lines(path, 5, 1)
    path.rename(path.with_name("w_0.out.log.1"))  # rotation: the old file keeps its last line
    write_lines(path, 6, 3)
    await asyncio.wait_for(task, 10)
    await stream.aclose()  # type: ignore[attr-defined]
    assert got == [f"line {i}" for i in range(3, 9)]


async def _take(stream: AsyncIterator[LogLine], predicate, limit: int) -> list[LogLine]:  # type: ignore[no-untyped-def]
    out: list[LogLine] = []
    async for line in stream:
        if predicate(line):
            out.append(line)
            if len(out) >= limit:
                return out
    return out


async def test_component_logs_merge_replicas_with_prefix(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("logs-tail", {"decode": worker(args=replica_args("--lines", "30"))})
    conn = await connect(graph)
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["decode"], 30)

    async def all_written() -> bool:
        texts = [line.text for line in await conn.get_component_logs("decode", 500)]
        return "decode1 line 29" in texts and "decode0 line 29" in texts

    await eventually(all_written, what="both replicas' lines")
    lines = await conn.get_component_logs("decode", 10)
    assert len(lines) == 10
    assert [line.timestamp for line in lines] == sorted(line.timestamp for line in lines)
    every = await conn.get_component_logs("decode", 500)
    replicas = {line.replica for line in every}
    assert replicas == {"decode-0", "decode-1"}
    assert any(line.stream == "stderr" and line.text == "decode1 stderr hello" for line in every)
    assert any(line.format() == "[decode-0] decode0 line 0" for line in every)


async def test_follow_yields_new_lines_across_rotations_and_new_replicas(connect, state_root: Path) -> None:  # type: ignore[no-untyped-def]
    ticking = worker(args=replica_args("--line-every", "0.01", "--line-size", "200"))
    conn = await connect(make_graph("logs-follow", {"decode": ticking}), log_max_bytes=4096, log_backups=2)
    await conn.wait_until_stable(["decode"], 30)
    stream = conn.follow_component_logs("decode")
    try:
        ticks = await asyncio.wait_for(_take(stream, lambda ln: "decode0 tick" in ln.text, 80), 30)
        numbers = [int(re.search(r"tick (\d+)", line.text).group(1)) for line in ticks]  # type: ignore[union-attr]
        assert numbers == list(range(numbers[0], numbers[0] + 80))  # nothing lost across rotations
        log_dir = state_root / "local" / "logs-follow" / "logs"
        assert (log_dir / "logs-follow_decode_0.out.log.1").exists()
        assert (log_dir / "logs-follow_decode_0.out.log").stat().st_size <= 4096

        await conn.scale_component("decode", 2)
        fresh = await asyncio.wait_for(_take(stream, lambda ln: ln.replica == "decode-1", 3), 30)
        assert fresh[0].text.startswith("decode1 pid=")  # a new replica is followed from its first line
    finally:
        with contextlib.suppress(Exception):
            await stream.aclose()  # type: ignore[attr-defined]


def test_follower_catches_up_when_the_file_rotated_twice_between_polls(tmp_path: Path) -> None:
    path = tmp_path / "w_0.out.log"
    write_lines(path, 0, 2)
    follower = logs._FileFollower(logs.LogSource("decode", "decode-0", "stdout", path, backups=3), from_end=False)
    assert [line.text for line in follower.poll()] == ["line 0", "line 1"]

    def rotate() -> None:  # what circus's FileStream does at max_bytes
        for i in (2, 1):
            older = path.with_name(f"w_0.out.log.{i}")
            if older.exists():
                older.rename(path.with_name(f"w_0.out.log.{i + 1}"))
        path.rename(path.with_name("w_0.out.log.1"))

    write_lines(path, 2, 1)
    rotate()
    write_lines(path, 3, 2)
    rotate()
    write_lines(path, 5, 1)

    assert [line.text for line in follower.poll()] == [f"line {i}" for i in range(2, 6)]
    follower.close()


async def test_a_removed_replicas_lines_are_kept_marked_gone(connect) -> None:  # type: ignore[no-untyped-def]
    """A scale-down's last words ("decode1 stopping", written on SIGTERM) stay readable, marked as gone."""
    args = replica_args("--lines", "5", "--line-every", "0.5")  # ticks: proof the follower is following
    conn = await connect(make_graph("logs-gone", {"decode": worker(args=args)}))
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["decode"], 30)

    async def both_written() -> bool:
        texts = {line.text for line in await conn.get_component_logs("decode", 100)}
        return {"decode0 line 4", "decode1 line 4"} <= texts

    await eventually(both_written, what="both replicas' lines")
    stream = conn.follow_component_logs("decode").__aiter__()

    async def next_of_decode1() -> LogLine:
        while True:
            line = await stream.__anext__()
            if line.replica == "decode-1":
                return line

    try:
        await asyncio.wait_for(next_of_decode1(), 30)  # a fresh tick: the follower reads the files now
        await conn.scale_component("decode", 1)
        await conn.wait_until_stable(["decode"], 30)
        followed = [await asyncio.wait_for(next_of_decode1(), 30)]
        while followed[-1].text != logs.REMOVED_TEXT:
            followed.append(await asyncio.wait_for(next_of_decode1(), 30))
    finally:
        with contextlib.suppress(BaseException):
            await stream.aclose()
    # its last words (read while it stopped, or just after), then the mark of its removal
    assert [line.text for line in followed[-2:]] == ["decode1 stopping", logs.REMOVED_TEXT] and followed[-1].gone
    every = await conn.get_component_logs("decode", 100)
    gone = [line for line in every if line.replica == "decode-1"]
    assert {line.text for line in gone} >= {"decode1 line 0", "decode1 line 4", "decode1 stopping"}
    assert all(line.gone for line in gone) and gone[-1].format() == "[decode-1 (gone)] decode1 stopping"
    assert not any(line.gone for line in every if line.replica == "decode-0")
    await conn.scale_component("decode", 2)  # the name comes back: a new replica, not gone
    await conn.wait_until_stable(["decode"], 30)
    again = await conn.get_component_logs("decode", 100)
    assert not any(line.gone for line in again)
