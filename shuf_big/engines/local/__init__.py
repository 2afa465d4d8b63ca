"""The local engine: pass 1 scatters records into bucket temp files on worker threads,
pass 2 orders each bucket by key; input that fits the budget is shuffled in memory."""
