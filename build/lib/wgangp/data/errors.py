"""The one exception every data module raises for unusable input, before any training step."""

from __future__ import annotations

from wgangp.errors import UserInputError


class DataError(UserInputError):
    """Data that cannot be used: missing, empty, truncated or corrupt files, or a failed download.

    The message is one paragraph naming the path, what was expected there and how to get it.
    """
