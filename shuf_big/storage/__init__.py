"""Where bytes live: local paths or fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``https://``,
``memory://``), read ahead in ranges and written as uploads that appear only when committed.
What the bytes mean (records, compression, shards) is :mod:`shuf_big.files`' business."""
