"""What went wrong with a store, in one line: the storage libraries raise their own
exceptions (botocore's ``NoCredentialsError`` is not an ``OSError``), each turned here into
the words a user can act on.  Classes are matched by name so that no library is imported."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from shuf_big.errors import ShufBigError, describe

CREDENTIALS = (
    "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, "
    "or --storage-option anon=true for a public bucket)"
)
# Exception class names (anywhere in the class's hierarchy), and what they mean to a user.
BY_CLASS = (
    ("NoCredentialsError", CREDENTIALS),
    ("PartialCredentialsError", CREDENTIALS),
    ("EndpointConnectionError", "cannot connect to the endpoint ({err}): check AWS_ENDPOINT_URL or endpoint_url"),
    ("ConnectTimeoutError", "no answer from the endpoint ({err}): check the endpoint's address and the network"),
    ("ClientConnectorError", "cannot connect ({err})"),
    ("ServerTimeoutError", "the server stopped answering ({err})"),
    ("ReadTimeoutError", "the server stopped answering ({err})"),
    ("RepositoryNotFoundError", "no such repository, or no access to it (set HF_TOKEN for a private one)"),
    ("GatedRepoError", "the repository is gated: accept its terms on the Hub and set HF_TOKEN"),
    ("DefaultCredentialsError", "no Google credentials (set GOOGLE_APPLICATION_CREDENTIALS or run gcloud auth)"),
)
ACCESS_CODES = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden")


def explain(err: BaseException) -> str:
    """The reason ``err`` gives, as a user would say it."""
    names = {cls.__name__ for cls in type(err).__mro__}
    for name, words in BY_CLASS:
        if name in names:
            return words.format(err=_first_line(err))
    text = _first_line(err)
    if isinstance(err, FileNotFoundError):
        return "No such bucket" if "bucket does not exist" in text.lower() else "No such file or directory"
    if isinstance(err, PermissionError) or any(code in text for code in ACCESS_CODES):
        return f"Permission denied ({text})" if text and "ermission" not in text else "Permission denied"
    if isinstance(err, OSError) and err.errno and err.strerror:
        return describe(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else ""


@contextlib.contextmanager
def remote_errors(doing: str) -> Iterator[None]:
    """Turn a storage library's exception into ``ShufBigError(f"{doing}: {reason}")``;
    shuf-big's own errors and interrupts pass as they are."""
    try:
        yield
    except ShufBigError:
        raise
    except Exception as err:
        raise ShufBigError(f"{doing}: {explain(err)}") from None
