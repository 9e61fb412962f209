"""Errors a user can act on.

Every problem with a user's input is raised as :class:`InputError`, whose
message names the offending file, says what is wrong and what to do.  Rule
scripts let it propagate; :func:`senca_st.logging.run_step` prints it as one line.
"""

from __future__ import annotations

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
        text = f"{where}{problem}"
        if hint:
            text = f"{text.rstrip('.')}. {hint}"
        super().__init__(text)
