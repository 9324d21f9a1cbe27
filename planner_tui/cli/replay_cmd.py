"""``planner-tui replay FILE``: the dashboard driven by a recording, read-only, with pause, speed and seek."""

from __future__ import annotations

import click

EXIT_BAD_RECORDING = 2


@click.command("replay")
@click.argument("recording", type=click.Path(dir_okay=False))
@click.option("--speed", type=click.Choice(["1", "2", "5", "10", "30", "60"]), default="1", show_default=True)
@click.option("--paused", is_flag=True, help="start paused (space plays)")
@click.option("--theme", help="dashboard theme")
def replay(recording: str, speed: str, paused: bool, theme: str | None) -> None:
    """Replay a recording in the dashboard: space pauses, > and < change the speed, ] and [ seek a minute.

    The decision log shows the decisions as they were; c opens the charts. Nothing is changed anywhere.
    """
    from planner_tui.recording import RecordingError, read_recording

    try:
        recorded = read_recording(recording)
    except RecordingError as exc:
        click.echo(f"planner-tui replay: {exc}", err=True)
        raise SystemExit(EXIT_BAD_RECORDING) from None
    for problem in recorded.problems:
        click.echo(f"warning: {problem}", err=True)
    if len(recorded) == 0:
        click.echo(f"planner-tui replay: {recording} holds no Snapshot to replay; record longer", err=True)
        raise SystemExit(EXIT_BAD_RECORDING)

    from planner_tui.tui.replay_app import ReplayApp
    from planner_tui.tui.replay_source import ReplaySource

    source = ReplaySource(recorded, speed=float(speed), paused=paused)
    ReplayApp(source, theme=theme, remember_theme=False).run()
