"""Profiling: measure what one replica of a component serves at the latency targets.

``planner-tui profile`` brings a graph up with one replica per measured component (the planner
paused), drives load through its frontend and sweeps: prefill, input length x load, recording TTFT
and prompt tokens/s; decode, context length x load, recording ITL and output tokens/s. Each point
runs until it is steady; the frontend's and the workers' own metrics are cross-checked against what
the load client measured. The result is the capacity profile the throughput policy reads
(:mod:`planner_tui.planner.profile`), the raw sweep as JSON, and a chart.

- :mod:`.records`: the sweep's immutable records and their JSON form;
- :mod:`.window`: cumulative samples, the measurement of a window between two, steadiness;
- :mod:`.scrape`: the frontend's and workers' metrics as cumulative counters and histograms;
- :mod:`.sim_load` (the simulated frontend's own API) and :mod:`.openai_load` (an OpenAI-compatible
  frontend, streaming): the load drivers;
- :mod:`.sweep`: the sweep itself (adaptive load levels, progress, a stop that keeps what was measured);
- :mod:`.capacity`: capacity at the targets per length, the profile's curves;
- :mod:`.output`: the profile file and the raw sweep JSON (atomic, 0600); :mod:`.chart`: plotext charts;
- :mod:`.bringup`: the graph under a runtime Session with one replica per measured component.
"""
