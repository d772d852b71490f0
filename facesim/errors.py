"""Errors that the CLI turns into one-line messages instead of tracebacks."""


class FacesimError(Exception):
    """A problem the user can act on; its message is shown as is."""


class ImageError(FacesimError):
    """A file that cannot be read as a photo (missing, not an image, truncated, too large)."""


class NoFaceError(FacesimError):
    """A readable photo in which no face was found."""


def first_line(exc: BaseException, fallback: str) -> str:
    """The first line of an error's message. A message can span lines (SQL, a worker's traceback,
    a decoder's dump), yet every error facesim shows is one line; `fallback` stands in for an
    empty message, which each caller words its own way."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else fallback
