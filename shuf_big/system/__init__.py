"""The operating system's side of a run: nameless temp files and their directories,
RAM-backed mounts, signals deferred around commits, and progress on stderr."""
