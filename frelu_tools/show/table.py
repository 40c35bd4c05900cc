"""Plain-text tables with aligned columns for the `show` reports."""

from collections.abc import Sequence


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool], indent: str = "  "
) -> list[str]:
    """Format rows of cell strings under headers; `right[i]` right-aligns column i.

    Returns:
        The lines of the table, header first, each starting with `indent`, with trailing
        spaces removed.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i, cell in enumerate(cells):
            parts.append(cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i]))
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers)] + [line(row) for row in rows]


def format_number(value) -> str:
    """Format a plain number as Lua prints it (`%.14g`); None as `-`."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return f"{value:.14g}"


def format_values(values: Sequence[float] | None, per_line: int = 8) -> list[str]:
    """Format parameter values with four decimals, as Torch7 prints a small tensor.

    Returns:
        One string per line of at most `per_line` values, `["-"]` when values are None.
    """
    if values is None:
        return ["-"]
    texts = [f"{v:.4f}" for v in values]
    if not texts:
        return ["(empty)"]
    return [" ".join(texts[i : i + per_line]) for i in range(0, len(texts), per_line)]
