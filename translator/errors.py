"""The one domain exception type of the library."""


class TranslatorError(Exception):
    """A user-facing error: bad input, missing or corrupt model, limits exceeded."""
