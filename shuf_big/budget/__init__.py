"""The memory budget: sizes parsed and printed, the memory this process may use (RAM,
cgroup, rlimits), the allocator's settings, and the plan that splits ``--mem`` among a
run's buffers."""
