"""The one error type of the parsing layer and the rejection reasons of the contract."""

from __future__ import annotations

# Contract section 5, in the order the checks run: the first that fails names the reason.
REJECTION_REASONS = (
    "unreadable",
    "too_large",
    "encoding",
    "no_front_matter",
    "too_complex",
    "syntax_error",
    "not_a_mapping",
    "missing_required",
)


class NewsfrontError(Exception):
    """Root of every error newsfront raises on purpose."""


class Rejection(NewsfrontError):
    """A file that cannot become an article.

    `reason` is one of REJECTION_REASONS; `detail` is a sentence a person can act on,
    naming the line and column in the file when there is one.
    """

    def __init__(
        self, reason: str, detail: str, line: int | None = None, column: int | None = None
    ):
        if reason not in REJECTION_REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        self.reason = reason
        self.line = line
        self.column = column
        if line is not None:
            where = f"line {line}" if column is None else f"line {line}, column {column}"
            detail = f"{detail} (at {where})"
        self.detail = detail
        super().__init__(f"{reason}: {detail}")
