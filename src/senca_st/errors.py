"""Errors a user can act on.

Every problem with a user's input is raised as :class:`InputError`, whose
message names the offending file, says what is wrong and what to do.  Rule
scripts let it propagate; :func:`senca_st.runlog.rule_step` prints it as one line
(``ERROR <file>: <problem>. <what to do>``) and exits with status 1.
"""

from __future__ import annotations

import re
from pathlib import Path


class InputError(Exception):
    """A problem with an input file that the user must fix.

    The message always has the form ``<file>: <problem>. <what to do>`` so that
    a single line in the log and on the terminal is enough to act on.
    """

    def __init__(self, path: str | Path | None, problem: str, hint: str = "") -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        self.hint = hint
        where = f"{self.path}: " if self.path else ""
        text = _one_line(f"{where}{problem}")
        if hint:
            text = f"{text.rstrip('.').rstrip()}. {_one_line(hint)}"
        super().__init__(text)


def _one_line(text: str) -> str:
    """Join the lines of a library's error text so the message stays one line."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()
