"""Closed-loop evaluation of candidate planner settings against a workload, in virtual time.

A workload (:mod:`.workload`: a recording's, a CSV trace, a load profile) drives the simulated graph's
performance model (:mod:`planner_tui.sim.virtual`, the same code the demo's processes run); Snapshots are
made as the collector makes them (:mod:`.collect`); the real planner engine decides (:mod:`.run`); each
candidate (:mod:`.candidates`) is judged on SLA attainment, GPU-seconds, scaling actions, flaps and
requests dropped or queued past a bound (:mod:`.report`).
"""
