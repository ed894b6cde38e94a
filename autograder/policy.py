"""The course's grading policy: due dates and the late rule, from one file (``course.toml``).

```toml
[late]
rule = "per_day"        # none | zero | per_day
percent_per_day = 10    # per_day: each started day late costs this share of the score
grace_minutes = 15      # lateness up to this is not late

[due]                   # assignment = due date, with its time zone
"02_convolution" = 2027-01-25T23:59:00+01:00
```

The rule is applied by nbgrader's own late-penalty step (``AssignLatePenalties``) through
the plugin below, from the gradebook's due date and the submission's ``timestamp.txt``.
Where the submission comes from an LMS export, its time is the export's file time, and a
Canvas ``_LATE`` marker counts as at least one second late.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

from .course import REPO_ROOT

DEFAULT_POLICY_FILE = REPO_ROOT / "course.toml"
RULES = ("none", "zero", "per_day")


class PolicyError(ValueError):
    """The course file cannot be used."""


@dataclass(frozen=True)
class LateRule:
    rule: str = "none"
    percent_per_day: float = 0.0
    grace_minutes: float = 0.0

    def fraction_lost(self, seconds_late: float) -> float:
        """Share of the score a notebook this late loses, in [0, 1]."""
        if seconds_late <= self.grace_minutes * 60 or self.rule == "none":
            return 0.0
        if self.rule == "zero":
            return 1.0
        days = math.ceil(seconds_late / 86400)
        return min(1.0, days * self.percent_per_day / 100)


@dataclass(frozen=True)
class Policy:
    late: LateRule = LateRule()
    due: dict[str, datetime] = field(default_factory=dict)

    def due_utc(self, assignment: str) -> datetime | None:
        """The due date in UTC without a zone (as nbgrader's gradebook stores it)."""
        due = self.due.get(assignment)
        return due.astimezone(UTC).replace(tzinfo=None) if due else None


def load_policy(path: Path | None = None, known: list[str] | None = None) -> Policy:
    """The policy in ``path`` (default: the course's ``course.toml``; none there: no late rule)."""
    path = path or DEFAULT_POLICY_FILE
    if not path.is_file():
        if path == DEFAULT_POLICY_FILE:
            return Policy()
        raise PolicyError(f"{path}: no such course file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PolicyError(f"{path}: not valid TOML ({error})") from error
    late = data.get("late", {})
    rule = late.get("rule", "none")
    if rule not in RULES:
        raise PolicyError(f"{path}: [late] rule must be one of {', '.join(RULES)}, not {rule!r}")
    percent, grace = late.get("percent_per_day", 0), late.get("grace_minutes", 0)
    if not isinstance(percent, int | float) or not 0 <= percent <= 100:
        raise PolicyError(f"{path}: [late] percent_per_day must be a number from 0 to 100")
    if not isinstance(grace, int | float) or grace < 0:
        raise PolicyError(f"{path}: [late] grace_minutes must be a number ≥ 0")
    due = {}
    for assignment, when in data.get("due", {}).items():
        if known is not None and assignment not in known:
            raise PolicyError(f"{path}: [due] names {assignment!r}, which is not an assignment ({', '.join(known)})")
        if not isinstance(when, datetime) or when.tzinfo is None:
            raise PolicyError(f"{path}: [due] {assignment} needs a date and time with a zone, e.g. 2027-01-25T23:59:00+01:00")
        due[assignment] = when
    return Policy(LateRule(rule, float(percent), float(grace)), due)


class CoursePenalty(LateSubmissionPlugin):
    """nbgrader's late-penalty plugin for the course's rule (set by the grading unit)."""

    rule = Enum(RULES, default_value="none").tag(config=True)
    percent_per_day = Float(0.0).tag(config=True)
    grace_minutes = Float(0.0).tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float | None:
        lost = LateRule(self.rule, self.percent_per_day, self.grace_minutes).fraction_lost(total_seconds_late)
        return score * lost if lost else None
