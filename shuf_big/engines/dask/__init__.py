"""The Dask engine: the same two passes as independent tasks on a Dask cluster, with
spill files and pieces on storage every worker reaches. Needs the ``dask`` extra."""
