"""Plan layer: a config becomes its cells, in an interleaved order."""

from orchestrator.plan.cells import Cell, Plan, make_plan, parse_only, parse_shard

__all__ = ["Cell", "Plan", "make_plan", "parse_only", "parse_shard"]
