"""What a refine run changed, pass by pass: pydantic so it prints as a table and dumps as JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Change(BaseModel):
    """One item one pass touched, with the fields that moved (before -> after)."""

    id: str
    label: str
    name: str = ""
    kind: str  # merged | absorbed | status | utility | created | severity | renamed | ...
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)


class PassReport(BaseModel):
    name: str
    changes: list[Change] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)  # e.g. {"examined": 120, "merged": 3}
    note: str = ""  # why a pass did nothing (skipped, below threshold, ...)

    @property
    def changed(self) -> int:
        return len(self.changes)

    def add(self, change: Change) -> None:
        self.changes.append(change)
        self.counts[change.kind] = self.counts.get(change.kind, 0) + 1


class RefineReport(BaseModel):
    dry_run: bool = False
    passes: list[PassReport] = Field(default_factory=list)

    @property
    def total_changes(self) -> int:
        return sum(p.changed for p in self.passes)

    def get(self, name: str) -> PassReport:
        for p in self.passes:
            if p.name == name:
                return p
        raise KeyError(name)

    def table_rows(self) -> list[tuple[str, int, str]]:
        """(pass, changed, counts) per pass: the summary `expgraph refine` prints."""
        rows = []
        for p in self.passes:
            counts = ", ".join(f"{k}={v}" for k, v in sorted(p.counts.items()))
            rows.append((p.name, p.changed, (counts + (f" ({p.note})" if p.note else "")).strip()))
        return rows

    def change_rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """(pass, kind, label, name, before, after) per change: the detail table."""
        out = []
        for p in self.passes:
            for c in p.changes:
                out.append((p.name, c.kind, c.label, c.name[:40], _brief(c.before),
                            _brief(c.after)))
        return out


def _brief(d: dict[str, Any]) -> str:
    parts = []
    for k, v in d.items():
        if isinstance(v, float):
            v = f"{v:.3f}"
        elif isinstance(v, list):
            v = f"[{len(v)}]"
        parts.append(f"{k}={v}")
    return " ".join(parts)[:60]
