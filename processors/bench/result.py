"""What every ``lineage bench`` mode hands back: named figures, printed in order."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BenchResult:
    """Named figures, printed in order."""

    title: str
    figures: list[tuple[str, str]] = field(default_factory=list)
    rate: float = 0.0  # the headline rate, events/s, where there is one

    def add(self, name: str, value: str) -> None:
        self.figures.append((name, value))

    def render(self) -> str:
        width = max(len(n) for n, _ in self.figures)
        lines = [self.title, "-" * len(self.title)]
        lines += [f"{n.ljust(width)}  {v}" for n, v in self.figures]
        return "\n".join(lines)
