"""The engines, peers behind one interface (:class:`shuf_big.job.Engine`): ``local`` (this
machine's threads and temp files), ``dask`` (tasks on a Dask cluster) and ``gnu`` (GNU
shuf's generated and repeated modes), with the checks all of them run first (``preflight``).

Each engine is imported only when a run picks it, so ``import shuf_big`` stays light.
"""
