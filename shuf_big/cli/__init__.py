"""The command line: click parses GNU shuf's options (with getopt's abbreviations) and
calls the library; nothing here shuffles."""

from shuf_big.cli.command import cli, main

__all__ = ["cli", "main"]
