"""Files: inputs opened and decompressed, framed into records, headers, compressed
outputs written atomically, and sharded outputs."""
