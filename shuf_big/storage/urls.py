"""URLs: telling them from paths, the filesystem each names (with the storage options that
apply to its protocol), glob expansion, and the extra to install when a filesystem is missing.

fsspec is imported only once a URL is used, so a run on local files never loads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shuf_big.errors import ShufBigError, UsageError, missing_extra
from shuf_big.storage.failures import remote_errors

URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
GLOB_CHARS = "*?["
# The library a protocol needs, and the extra that installs it.
EXTRAS = {
    "s3": ("s3fs", "s3"),
    "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
    "adl": ("adlfs", "azure"),
    "hf": ("huggingface_hub", "hf"),
    "http": ("aiohttp", "http"),
    "https": ("aiohttp", "http"),
}
S3_PROTOCOLS = ("s3", "s3a")
# S3 clients give up on an endpoint that does not answer after this many seconds instead of
# botocore's 60 (times its retries); a --storage-option config_kwargs overrides it.
CONNECT_TIMEOUT = 10
S3_CONFIG = {
    "connect_timeout": CONNECT_TIMEOUT,
    "read_timeout": 120,
    "retries": {"max_attempts": 4, "mode": "standard"},
}


def is_url(path: object) -> bool:
    """Whether ``path`` names a location by URL (``s3://...``) rather than a local path."""
    return isinstance(path, str) and URL.match(path) is not None


def protocol_of(url: str) -> str:
    match = URL.match(url)
    return match.group(1).lower() if match else "file"


def local_path(url: str) -> str | None:
    """The local path a ``file://`` URL names (read and written as any local file), else None."""
    if protocol_of(url) != "file" or not is_url(url):
        return None
    return url[len("file://") :] or "/"


@dataclass(frozen=True)
class StorageOptions:
    """The keyword arguments of each protocol's filesystem: ``common`` for every one,
    ``by_protocol`` for one (``--storage-option s3.endpoint_url=...``)."""

    common: Mapping[str, Any] = field(default_factory=dict)
    by_protocol: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, given: Mapping[str, Any] | Sequence[str] | None) -> StorageOptions:
        """From the API's mapping or the command's ``KEY=VALUE`` strings: a value is JSON
        where it parses (``true``, ``8``, ``{"a": 1}``), else a string; ``PROTOCOL.KEY``
        (or a mapping under the protocol's name) applies to that protocol alone."""
        if not given:
            return cls()
        items = given.items() if isinstance(given, Mapping) else [_split(text) for text in given]
        common: dict[str, Any] = {}
        by_protocol: dict[str, dict[str, Any]] = {}
        for key, value in items:
            protocol, _, name = str(key).rpartition(".")
            if not protocol and name in EXTRAS and isinstance(value, Mapping):
                by_protocol.setdefault(name, {}).update(value)
            elif protocol:
                by_protocol.setdefault(protocol.lower(), {})[name] = value
            else:
                common[name] = value
        return cls(common, by_protocol)

    def for_protocol(self, protocol: str) -> dict[str, Any]:
        """The options of ``protocol``'s filesystem: shuf-big's defaults, then the common
        ones, then the protocol's own (a ``config_kwargs`` mapping is merged, not replaced)."""
        options: dict[str, Any] = {}
        if protocol in S3_PROTOCOLS:
            options["config_kwargs"] = dict(S3_CONFIG)
        for layer in (self.common, self.by_protocol.get(protocol, {})):
            for key, value in layer.items():
                if key == "config_kwargs" and isinstance(value, Mapping) and "config_kwargs" in options:
                    options[key] = {**options[key], **value}
                else:
                    options[key] = value
        return options


def _split(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"invalid --storage-option '{text}': use KEY=VALUE or PROTOCOL.KEY=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def filesystem(url: str, options: StorageOptions) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path in it; a missing library is the
    one-line install hint, an unknown protocol a one-line error."""
    protocol = protocol_of(url)
    try:
        import fsspec
    except ImportError:
        raise missing_extra(f"{protocol}:// needs fsspec", "s3") from None
    try:
        fs, path = fsspec.core.url_to_fs(url, **options.for_protocol(protocol))
    except ImportError:
        library, extra = EXTRAS.get(protocol, (protocol, protocol))
        raise missing_extra(f"{protocol}:// needs {library}", extra) from None
    except ValueError as err:
        if "not known" in str(err).lower():
            raise ShufBigError(f"cannot open '{url}': unknown storage protocol '{protocol}://'") from None
        raise ShufBigError(f"cannot open '{url}': {err}") from None
    except TypeError as err:  # a storage option the filesystem does not take
        raise ShufBigError(f"invalid --storage-option for {protocol}://: {err}") from None
    return fs, path


def has_glob(url: str) -> bool:
    return is_url(url) and any(char in url.partition("://")[2] for char in GLOB_CHARS)


def expand(urls: Iterable[str], origins: Sequence[str], options: StorageOptions) -> tuple[list[str], list[str]]:
    """``urls`` with each glob (``*``, ``?``, ``[``) replaced by the files it matches, sorted,
    as a shell expands local paths (``origins``, one per url or none, are repeated for the
    files of theirs); a glob that matches nothing is an error naming it."""
    out: list[str] = []
    out_origins: list[str] = []
    for number, url in enumerate(urls):
        found = [url]
        if has_glob(url):
            fs, path = filesystem(url, options)
            where = f"{origins[number]}: " if origins else ""
            with remote_errors(f"{where}cannot list '{url}'"):
                matches = sorted(p for p, info in fs.glob(path, detail=True).items() if info.get("type") != "directory")
            if not matches:
                raise ShufBigError(
                    f"{where}cannot open '{url}': No such file or directory (the pattern matches nothing)"
                )
            found = [_with_protocol(url, fs, p) for p in matches]
        out.extend(found)
        if origins:
            out_origins.extend([origins[number]] * len(found))
    return out, out_origins


def _with_protocol(url: str, fs: Any, path: str) -> str:
    """``path`` of ``fs`` as a URL with the protocol ``url`` was given with (``s3a`` stays ``s3a``)."""
    protocol = protocol_of(url)
    full = fs.unstrip_protocol(path)
    return f"{protocol}://{full.partition('://')[2]}" if "://" in full else f"{protocol}://{path}"
