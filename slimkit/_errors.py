"""Reader errors that name the file: every failure of a reader on a hostile or broken file becomes a
``ValueError`` (or ``TypeError`` / ``MemoryError``) whose message starts with the path."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["names_file"]

F = TypeVar("F", bound=Callable[..., Any])


def names_file(what: str) -> Callable[[F], F]:
    """Decorate a reader ``fn(path, ...)`` so that its errors name ``path``.

    ``ValueError`` / ``TypeError`` that do not mention the path get it as a prefix; any other failure to parse
    (``BadZipFile``, ``zlib.error``, ``EOFError``, ``IndexError``, ``KeyError``, ``OverflowError``,
    ``RecursionError`` ...) becomes a ``ValueError`` saying the file is not a readable ``what`` file;
    ``MemoryError`` keeps its type and names the file; ``OSError`` (missing file, permissions) passes as is.

    Args:
        what: The format, for the message (e.g. ``"NTU .skeleton"``).
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(path, *args, **kwargs)
            except OSError:
                raise
            except (ValueError, TypeError) as e:
                where = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
                if where is None or where in str(e):
                    raise
                if isinstance(e, UnicodeError):
                    raise ValueError(f"{where}: not a text {what} file ({e})") from None
                try:  # keep the type (ValueError, TypeError or a subclass whose constructor takes a message)
                    named = type(e)(f"{where}: {e}")
                except Exception:  # e.g. json.JSONDecodeError needs more arguments
                    named = (TypeError if isinstance(e, TypeError) else ValueError)(f"{where}: {e}")
                raise named from e
            except MemoryError as e:
                raise MemoryError(f"{path}: ran out of memory reading it as a {what} file ({e})") from None
            except RecursionError:
                raise ValueError(f"{path}: not a readable {what} file (nested too deeply)") from None
            except Exception as e:
                raise ValueError(f"{path}: not a readable {what} file ({type(e).__name__}: {e})") from e

        return wrapper  # type: ignore[return-value]

    return deco
