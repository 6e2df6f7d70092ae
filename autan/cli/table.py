"""Plain-text tables for the terminal: columns padded to their widest cell."""

from __future__ import annotations


class Table:
    def __init__(self, *headers: str) -> None:
        self._rows: list[list[str]] = [list(headers)]
        # Numbers read best right-aligned; a column is numeric if every cell added so far is.
        self._numeric = [True] * len(headers)

    def add(self, *cells: object) -> None:
        assert len(cells) == len(self._rows[0]), "a row has one cell per header"
        for i, cell in enumerate(cells):
            if not isinstance(cell, int | float):
                self._numeric[i] = False
        self._rows.append([f"{c:.6f}" if isinstance(c, float) else str(c) for c in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in self._rows) for i in range(len(self._rows[0]))]
        lines = []
        for row in self._rows:
            cells = [
                cell.rjust(w) if numeric else cell.ljust(w)
                for cell, w, numeric in zip(row, widths, self._numeric, strict=True)
            ]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)
